"""Task ids: 32 lower-case hex digits, the only form that may name a task directory.

Validating here, before any path is built, is what keeps an id such as
`../../etc` from ever reaching the filesystem.
"""

from __future__ import annotations

import os
import re

from hipercow_core.errors import InvalidTaskIdError

_ID_PATTERN = re.compile(r"[0-9a-f]{32}")


def new_task_id() -> str:
    """A fresh random id; 128 random bits make clashes between creators negligible."""
    return os.urandom(16).hex()


def new_task_ids(count: int) -> list[str]:
    """Many fresh ids from one read of the random source."""
    pool = os.urandom(16 * count).hex()
    return [pool[i : i + 32] for i in range(0, 32 * count, 32)]


def validate_task_id(task_id: str) -> str:
    """Return the id unchanged, or raise if it is not a well-formed task id."""
    if not _ID_PATTERN.fullmatch(task_id):
        shown = task_id if len(task_id) <= 40 else task_id[:37] + "..."
        raise InvalidTaskIdError(
            f"'{shown}' is not a task id",
            "Task ids are 32 hex digits; 'hipercow task list' shows the ones in this root.",
        )
    return task_id
