"""`hipercow hello`: one small task through a driver, and what it found on the node.

The task is a Python expression in the `empty` environment (hipercow's own
Python on the node), so it needs nothing provisioned. It reports the node,
its OS, Python and hipercow versions, the cores it can see and was given,
its memory, the root's path as the node sees it, and whether it can write
a file there; `hello` compares each with this machine and the request and
gives a list of `Check`s that the CLI shows as ✔/✖ lines.
"""

from __future__ import annotations

import platform

import msgspec

from hipercow_core import __version__
from hipercow_core.resources import parse_resources
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.tasks import TaskSpec, create_tasks, task_info, wait_task

#: Where the write test writes (one file per hello task, removed again).
HELLO_DIR = "hello"

#: What runs on the node: only the standard library (and psutil when there).
NODE_REPORT = f"""
import os, platform, sys, socket
root = os.environ.get("HIPERCOW_ROOT", os.getcwd())
try:
    cpus = len(os.sched_getaffinity(0))
except AttributeError:
    cpus = os.cpu_count() or 0
try:
    import psutil
    memory = psutil.virtual_memory().total
except ImportError:
    memory = None
write = None
try:
    where = os.path.join(root, "hipercow", "{HELLO_DIR}")
    os.makedirs(where, exist_ok=True)
    probe = os.path.join(where, os.environ["HIPERCOW_TASK_ID"] + ".txt")
    with open(probe, "w") as f:
        f.write("hello")
    with open(probe) as f:
        assert f.read() == "hello", "read back something else"
    os.remove(probe)
except Exception as e:
    write = f"{{type(e).__name__}}: {{e}}"
{{
    "node": os.environ.get("SLURMD_NODENAME") or socket.gethostname(),
    "os": platform.platform(),
    "python": platform.python_version(),
    "cores_visible": cpus,
    "cores_given": int(os.environ.get("HIPERCOW_CORES", "0")),
    "memory": memory,
    "root": root,
    "write_error": write,
}}
"""


class NodeReport(msgspec.Struct, frozen=True):
    """What the hello task found on its node."""

    node: str
    os: str
    python: str
    cores_visible: int
    cores_given: int
    memory: int | None
    root: str
    write_error: str | None


class Check(msgspec.Struct, frozen=True):
    """One line of the answer: what was checked, whether it is fine, and the particulars."""

    name: str
    ok: bool
    detail: str


class HelloReport(msgspec.Struct, frozen=True):
    task_id: str
    driver: str | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def hello(
    root: Root,
    *,
    driver: str | None = None,
    queue: str | None = None,
    cores: int = 1,
    timeout: float = 600,
) -> HelloReport:
    """Run the hello task through the driver and check what it reports."""
    resources = parse_resources(cores=cores, queue=queue)
    spec = TaskSpec(
        command=(NODE_REPORT,),
        kind="python",
        resources=resources,
        environment="empty",
        name="hipercow-hello",
    )
    [task_id] = create_tasks(root, [spec], cwd=root.project, driver=driver)
    status = wait_task(root, task_id, timeout=timeout, poll=0.5, follow=False)
    info = task_info(root, task_id)
    if status != TaskStatus.SUCCESS:
        why = info.reason or (f"exit code {info.exit_code}" if info.exit_code else str(status))
        if not status.is_terminal:
            why = f"still {status} after {timeout:g}s"
        ran = Check("task", False, f"{why}: see 'hipercow task log {task_id}' (and --outer)")
        return HelloReport(task_id, info.driver, (ran,))
    from hipercow_core.pytasks import task_result

    found = msgspec.convert(task_result(root, task_id), NodeReport)
    return HelloReport(task_id, info.driver, tuple(_checks(root, found, info.node_version, cores)))


def _checks(root: Root, found: NodeReport, node_version: str | None, cores: int) -> list[Check]:
    here_python = platform.python_version()
    same_python = found.python.split(".")[:2] == here_python.split(".")[:2]
    checks = [
        Check("node", True, found.node),
        Check("OS", True, f"{found.os} (here: {platform.platform()})"),
        Check(
            "Python",
            same_python,
            f"{found.python} on the node, {here_python} here"
            + ("" if same_python else ": Python tasks' pickles may not travel between them"),
        ),
        Check(
            "hipercow",
            node_version == __version__,
            f"{node_version or 'unknown'} on the node, {__version__} here"
            + ("" if node_version == __version__ else ": install the same release on both"),
        ),
        Check(
            "cores",
            found.cores_given == cores and found.cores_visible >= cores,
            f"{found.cores_visible} visible, {found.cores_given} given, {cores} requested",
        ),
        Check(
            "memory",
            True,
            "unknown (no psutil on the node)" if found.memory is None else _gb(found.memory),
        ),
        Check("root", True, f"{found.root} on the node ({root.project} here)"),
    ]
    if found.write_error is None:
        checks.append(Check("write", True, "a file in the root was written and read back"))
    else:
        checks.append(
            Check("write", False, f"the node cannot write to the root: {found.write_error}")
        )
    return checks


def _gb(value: int) -> str:
    return f"{value / 1e9:.1f} GB"
