"""Building blocks for case setups: roots, tasks in them, and waiting for quiet.

Each tool gets its roots under its own `.bench/<tool>/roots/` so that the two
never find each other's root when they walk up from their working directory.
Ours is prepared in-process through `hipercow_core` (the harness runs in this
workspace's environment); theirs through its CLI or, for bulk work, through
its Python API by way of `old_api.py` run with its own interpreter.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from tools.bench.harness import OLD_API, BenchError, Tool, log

READY = ".bench-ready"
COMMAND = ("echo", "hi")
_TASK_ID = re.compile(r"[0-9a-f]{32}")


def init_root(tool: Tool, project: Path, *, configure: bool = True) -> None:
    """`hipercow init .` (and `hipercow driver configure <its driver>`) in `project`."""
    project.mkdir(parents=True, exist_ok=True)
    tool.cli("init", ".", cwd=project)
    if configure:
        tool.cli("driver", "configure", tool.driver, cwd=project)


def new_root(tool: Tool, name: str, *, configure: bool = True) -> Path:
    """A fresh project with a (configured) root, for cases whose timed runs change it."""
    project = tool.home / "roots" / name
    if project.exists():
        shutil.rmtree(project)
    init_root(tool, project, configure=configure)
    return project


def kept_root(tool: Tool, name: str, build: Callable[[Path], None]) -> Path:
    """A root that timed runs only read, built once per run, or kept where allowed.

    Only a pinned release (`tool.reuse_roots`) keeps its roots between runs:
    ours may change its store format without a version bump. The marker is
    written last, so an interrupted build is redone rather than trusted.
    """
    project = tool.home / "roots" / name
    marker = project / READY
    if tool.reuse_roots and marker.is_file():
        return project
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    started = time.perf_counter()
    build(project)
    marker.write_text(f"{tool.key} {tool.version}\n")
    log(f"  built {tool.key} root '{name}' in {time.perf_counter() - started:.1f}s")
    return project


def task_id_from(output: str) -> str | None:
    """The id a `task create` printed: the last line (the old tool says 'submitting' first)."""
    lines = output.strip().splitlines()
    last = lines[-1].strip() if lines else ""
    return last if _TASK_ID.fullmatch(last) else None


def create_with_cli(tool: Tool, project: Path) -> str:
    """Create (and, with the configured driver, submit) one task through the CLI."""
    output = tool.cli("task", "create", "--", *COMMAND, cwd=project)
    task_id = task_id_from(output)
    if task_id is None:
        raise BenchError(f"{tool.key}: 'task create' printed no task id: {output!r}")
    return task_id


def expect_id(output: str) -> str | None:
    """A `check` for `task create` runs: a task id must have been printed."""
    return None if task_id_from(output) else f"no task id in {output[-200:]!r}"


def expect_text(wanted: str) -> Callable[[str], str | None]:
    """A `check` that the run printed exactly `wanted` (e.g. a status)."""

    def check(output: str) -> str | None:
        return None if output.strip() == wanted else f"expected {wanted!r}, got {output[-200:]!r}"

    return check


def expect_text_in(wanted: str) -> Callable[[str], str | None]:
    """A `check` that the run's output mentions `wanted` (e.g. a count of tasks made)."""

    def check(output: str) -> str | None:
        return None if wanted in output else f"expected {wanted!r} in {output[-200:]!r}"

    return check


def expect_lines(count: int) -> Callable[[str], str | None]:
    """A `check` that a listing printed one line per task."""

    def check(output: str) -> str | None:
        lines = len(output.splitlines())
        return None if lines == count else f"expected {count} lines, got {lines}"

    return check


# --------------------------------------------------------------------------- ours


def ours_add_tasks(project: Path, count: int) -> list[str]:
    """Create `count` tasks in one batch with our API, not submitted (so never run)."""
    # The workspace packages ship no py.typed yet, so mypy sees them as untyped
    # from here; `unused-ignore` keeps this quiet once they do.
    from hipercow_core.root import Root  # type: ignore[import-untyped,unused-ignore]
    from hipercow_core.tasks import (  # type: ignore[import-untyped,unused-ignore]
        TaskSpec,
        create_tasks,
    )

    specs = [TaskSpec(command=COMMAND)] * count
    ids: list[str] = create_tasks(Root(project), specs, cwd=project, submit=False)
    return ids


def ours_settle(project: Path, timeout: float = 60.0) -> None:
    """Wait until every task has finished and the local driver's daemon has exited.

    The local driver runs tasks in the background and keeps its daemon alive
    for a short idle spell; waiting for both means the next timed run (ours
    or theirs) neither competes with them for the two cores nor finds a daemon
    already up. The daemon is asked about only once nothing is queued, since
    probing its lock could otherwise turn away a daemon that was starting.
    """
    from hipercow_core.drivers.local import (  # type: ignore[import-untyped,unused-ignore]
        daemon_running,
    )
    from hipercow_core.root import Root  # type: ignore[import-untyped,unused-ignore]
    from hipercow_core.tasks import list_tasks  # type: ignore[import-untyped,unused-ignore]

    root = Root(project)
    deadline = time.monotonic() + timeout
    while True:
        busy = [s.id for s in list_tasks(root, reconcile=False) if s.status.is_active]
        if not busy and not daemon_running(root):
            return
        if time.monotonic() > deadline:
            what = f"tasks {', '.join(busy)} still active" if busy else "daemon still running"
            raise BenchError(f"ours: the local driver did not settle in {timeout:g}s ({what})")
        time.sleep(0.05)


# --------------------------------------------------------------------------- theirs


def theirs_api(tool: Tool, *args: str, cwd: Path) -> str:
    """Run `old_api.py` with the old tool's interpreter."""
    return tool.runner.call([str(tool.python), str(OLD_API), *args], cwd)


def theirs_add_tasks(tool: Tool, project: Path, count: int) -> None:
    """Create `count` tasks with the old API; call before configuring a driver to keep them
    `created` (with one, each would be submitted)."""
    theirs_api(tool, "populate", str(project), str(count), cwd=project)


def theirs_run_task(tool: Tool, project: Path, task_id: str) -> None:
    """Run a task to completion with the old API: its example driver runs nothing itself."""
    theirs_api(tool, "run", str(project), task_id, cwd=project)
