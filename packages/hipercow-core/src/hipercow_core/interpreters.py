"""Which Python interpreter a Python task runs with.

Kept apart from the task logic so the runner, which starts once per task,
can build the command without importing the rest of hipercow.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hipercow_core import pyexec
from hipercow_core.root import Root


def task_python(environment: str | None = None) -> str:
    """The interpreter for a task's environment (until environments exist: ours)."""
    return sys.executable


def pyexec_command(root: Root, task_id: str, environment: str | None) -> list[str]:
    return [task_python(environment), str(Path(pyexec.__file__)), str(root.project), task_id]
