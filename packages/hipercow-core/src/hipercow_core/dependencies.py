"""Whether a task's dependencies let it run: all succeeded, one failed, or still waiting.

Schedulers enforce dependencies their own way (Slurm's afterok, the portal's
dependency field, the local daemon holding the task back); this is the one
place that says what the files make of them. Core (`jobs`) fails a task
whose dependency failed, with `outcomes.DEPENDENCY_FAILED`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.store import file_status


class Readiness(enum.Enum):
    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"


def readiness(root: Root, depends_on: Sequence[str]) -> Readiness:
    """READY when every dependency succeeded; FAILED as soon as one cannot succeed."""
    waiting = False
    for task_id in depends_on:
        status = file_status(root, task_id)
        if status == TaskStatus.SUCCESS:
            continue
        if status.is_terminal or status == TaskStatus.MISSING:
            return Readiness.FAILED
        waiting = True
    return Readiness.WAITING if waiting else Readiness.READY
