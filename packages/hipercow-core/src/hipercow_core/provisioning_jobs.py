"""Which tasks are environment provisioning jobs, so that task commands can keep them apart.

A provisioning attempt runs as an ordinary task (its payload says
`provision: NAME/ATTEMPT`), and its task is the record of how the attempt
went. A scientist's `task list` is about their own work, so these are hidden
there unless asked for, and a purge of tasks never removes one: the attempt's
history points at it.

They are found from the environments' own records (each attempt names its
task, as does the claim of the one in progress), a handful of small files,
rather than by reading every task's data.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import msgspec

from hipercow_core.environments import RUNNING, environments_dir
from hipercow_core.fsutil import read_bytes
from hipercow_core.root import Root

ATTEMPT_FILE = "attempt.json"


class _TaskOf(msgspec.Struct):
    """The task id of a `ProvisionAttempt` or `ProvisionRunning` record; nothing else is needed."""

    task_id: str | None = None


_decoder = msgspec.json.Decoder(_TaskOf)


def _task_of(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return _decoder.decode(raw).task_id
    except msgspec.DecodeError:
        # A torn or foreign record names no task; the task then shows as a user's.
        return None


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def provisioning_task_ids(root: Root) -> set[str]:
    """Ids of every task that ran (or runs) a provisioning attempt in this root."""
    found: set[str] = set()
    for environment in _subdirs(environments_dir(root)):
        history = environment / "history"
        names = [_task_of(read_bytes(history / RUNNING))]
        names += [_task_of(read_bytes(a / ATTEMPT_FILE)) for a in _subdirs(history)]
        found.update(n for n in names if n)
    return found


def users_tasks(root: Root, task_ids: Iterable[str]) -> list[str]:
    """The given ids less provisioning jobs, in their order."""
    hidden = provisioning_task_ids(root)
    return [t for t in task_ids if t not in hidden]
