"""Which Python interpreter a Python task runs with.

Kept apart from the task logic so the runner, which starts once per task,
can build the command without importing the rest of hipercow.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hipercow_core import pyexec
from hipercow_core.root import Root


def task_python(environment: str | None = None, root: Root | None = None) -> str:
    """The interpreter for a task's environment: its build for this platform, or ours.

    Tasks with no environment (or `empty`) run with the Python running
    hipercow; `root` defaults to the one found from the working directory.
    """
    return environment_python(environment, root) or sys.executable


def environment_python(environment: str | None, root: Root | None = None) -> str | None:
    """The environment's interpreter on this machine; None if it has no build here.

    Lets creation-time checks run with the interpreter the task will use, and
    skip themselves where that cannot be known (e.g. a Windows laptop
    submitting to a Linux cluster).
    """
    if environment is None or environment == "empty":
        return sys.executable
    from hipercow_core.environments import build_interpreter, task_build

    root = root or Root.find()
    build = task_build(root, environment)
    if build is None:
        return None
    interpreter = build_interpreter(root, environment, build)
    # A prefix without its own Python (conda tools only): tasks use hipercow's.
    return sys.executable if interpreter is None else str(interpreter)


def pyexec_command(root: Root, task_id: str, environment: str | None) -> list[str]:
    return [task_python(environment, root), str(Path(pyexec.__file__)), str(root.project), task_id]
