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
    if environment is None or environment == "empty":
        return sys.executable
    from hipercow_core.environments import build_interpreter, task_build

    root = root or Root.find()
    build = task_build(root, environment)
    if build is None:
        return sys.executable
    return str(build_interpreter(root, environment, build))


def pyexec_command(root: Root, task_id: str, environment: str | None) -> list[str]:
    return [task_python(environment, root), str(Path(pyexec.__file__)), str(root.project), task_id]
