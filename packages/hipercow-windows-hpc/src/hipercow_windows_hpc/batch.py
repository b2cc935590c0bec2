"""The scripts a node runs for a task, rendered from template files shipped in the package.

A job on the portal is one command line. For Windows nodes it is
`call "\\\\server\\share\\...\\run.bat"`: a batch file in the task directory
that maps the shares and runs the task. For Linux nodes it is
`bash /mnt/.../run.sh`. The scripts live in `templates/` as files, so they
can be read and changed as scripts; core's renderer fills their `{{name}}`
placeholders. Values are quoted for the shell they land in. Each script
exits with the runner's status, which is 0 exactly when the task recorded
success, so the portal's job state agrees with hipercow's.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hipercow_core import templates
from hipercow_core.fsutil import atomic_write
from hipercow_core.root import Root, hostname
from hipercow_windows_hpc import __version__
from hipercow_windows_hpc.paths import LinuxMount
from hipercow_windows_hpc.shares import Location, Share

WINDOWS_SCRIPT = "run.bat"
LINUX_SCRIPT = "run.sh"
#: A batch file in the project that a Windows node runs before the task, if it exists.
SETUP_HOOK = ("hipercow", "setup.bat")


def load_template(name: str) -> str:
    """A template's text, from the installed package."""
    return templates.load(__package__ or "hipercow_windows_hpc", name)


def _bat(value: str) -> str:
    """A value safe inside a batch file's double quotes: `%` would start a variable.

    Only `%` needs escaping there: the template puts every value in double
    quotes (where `&`, `^`, `(`, `)` and spaces are literal), turns delayed
    expansion off (so `!` is literal) and switches to UTF-8 before any value.
    A double quote cannot be in a Windows path, so none can end the quoting.
    """
    return value.replace("%", "%%")


@dataclass(frozen=True)
class ScriptSettings:
    """What every script of one submission shares: where the project is, what runs it."""

    project: Location
    shares: Sequence[Share]
    runner: str
    python_version: str
    python_module: str | None = None
    linux_rules: Sequence[LinuxMount] = ()
    kerberos_renew: float = 0.0


@dataclass(frozen=True)
class JobScript:
    """A written script and how the portal should start it."""

    path: Path
    command: str
    workdir: str


def _header(task_id: str) -> dict[str, str]:
    return {
        "task_id": task_id,
        "version": __version__,
        "host": hostname(),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def windows_script(settings: ScriptSettings, task_id: str, task_parts: Sequence[str]) -> str:
    """The batch file for a task whose directory is `task_parts` below the project."""
    maps = [
        f'NET USE {s.drive} "{_bat(s.remote.windows())}" /PERSISTENT:NO /Y\n'
        "IF ERRORLEVEL 1 GOTO nomap"
        for s in settings.shares
    ]
    unmaps = [f"NET USE {s.drive} /DELETE /Y" for s in settings.shares]
    values = {
        **_header(task_id),
        "host": _bat(hostname()),
        "map_shares": "\n".join(maps),
        "unmap_shares": "\n".join(unmaps),
        "python_version": settings.python_version,
        "python_tag": settings.python_version.replace(".", ""),
        "project": _bat(settings.project.windows()),
        "setup": _bat(settings.project.windows(*SETUP_HOOK)),
        "runner": settings.runner,
    }
    return templates.render(load_template(WINDOWS_SCRIPT), values)


def linux_script(settings: ScriptSettings, task_id: str, task_parts: Sequence[str]) -> str:
    """The shell script for a task whose directory is `task_parts` below the project."""
    rules = settings.linux_rules
    values = {
        **_header(task_id),
        "python_module": shlex.quote(settings.python_module or ""),
        "python_version": shlex.quote(settings.python_version),
        "project": shlex.quote(settings.project.linux(rules)),
        "runner": settings.runner,
        "kerberos_renew": f"{settings.kerberos_renew:g}",
    }
    return templates.render(load_template(LINUX_SCRIPT), values)


def write_job_script(
    root: Root, task_id: str, settings: ScriptSettings, platform: str
) -> JobScript:
    """Write the task's script into its directory; returns how the portal should run it."""
    task_dir = root.task_dir(task_id)
    task_parts = task_dir.relative_to(root.project).parts
    if platform == "linux":
        text = linux_script(settings, task_id, task_parts)
        path = task_dir / LINUX_SCRIPT
        atomic_write(path, text.encode("utf-8"))
        script = settings.project.linux(settings.linux_rules, *task_parts, LINUX_SCRIPT)
        workdir = settings.project.linux(settings.linux_rules)
        return JobScript(path, f"bash {shlex.quote(script)}", workdir)
    text = windows_script(settings, task_id, task_parts)
    path = task_dir / WINDOWS_SCRIPT
    atomic_write(path, text.replace("\n", "\r\n").encode("utf-8"))
    unc = settings.project.unc(*task_parts, WINDOWS_SCRIPT).windows()
    return JobScript(path, f'call "{unc}"', "")
