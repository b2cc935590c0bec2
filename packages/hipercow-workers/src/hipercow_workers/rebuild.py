"""Rebuilding the pool's queue from the task files, after Redis lost its data.

Redis carries only ids, so a Redis restarted empty (or swapped for another)
forgets which tasks wait for the pool; the task files still know. Every task
submitted to the pool that the files say is still waiting, and that no worker
has claimed, is pushed again. That is safe at any time and from any number of
processes at once: a worker runs a task only if the files still say it is
due and it can create the task's claim file (written once), so a task queued
twice still runs once.

The driver notices the loss by a marker key it sets once the queue is known
to be whole (`Keys.marker`): a Redis without it has lost, or never had, this
root's pool, and the driver rebuilds before it submits or checks statuses.
The marker is set only after the rebuild, so a rebuild cut short is redone
by the next command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from hipercow_core.resources import resolve_hold_until
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.store import (
    RUNNING,
    file_status,
    iter_task_ids,
    read_submitted,
    read_task_data,
)
from hipercow_workers.keys import DRIVER_NAME, Keys
from hipercow_workers.resp import Client


@dataclass(frozen=True)
class Waiting:
    """The pool's tasks the files say have not started: due now (oldest first), and held."""

    due: list[str]
    held: dict[str, float]


def claimed(root: Root, task_id: str) -> bool:
    """Whether a worker has taken the task for good: its running marker, the claim, exists.

    The worker that takes a task writes that marker once (`store.claim_running`),
    so it survives Redis and a task queued twice never runs twice.
    """
    return os.path.exists(os.path.join(root.task_path(task_id), RUNNING))


def waiting_in_files(root: Root) -> Waiting:
    """Every task submitted to the pool that is still `submitted` and unclaimed."""
    due: list[tuple[datetime, str]] = []
    held: dict[str, float] = {}
    for task_id in iter_task_ids(root):
        if file_status(root, task_id) != TaskStatus.SUBMITTED:
            continue
        marker = read_submitted(root, task_id)
        if marker is None or marker.driver != DRIVER_NAME or claimed(root, task_id):
            continue
        hold = read_task_data(root, task_id).resources.hold_until
        if hold is not None:  # resolved again from when it was submitted
            held[task_id] = resolve_hold_until(hold, marker.time).timestamp()
        else:
            due.append((marker.time, task_id))
    return Waiting([task_id for _, task_id in sorted(due)], held)


def requeue(root: Root, client: Client, keys: Keys) -> list[str]:
    """Push the waiting tasks the queue does not hold, then mark the queue whole.

    Returns the ids pushed (held ones included). May raise Redis's connection
    errors; the caller words them.
    """
    waiting = waiting_in_files(root)
    queued = {_text(t) for t in client.lrange(keys.queue, 0, -1)}
    missing = [task_id for task_id in waiting.due if task_id not in queued]
    pipe = client.pipeline(transaction=False)
    if missing:
        pipe.rpush(keys.queue, *missing)
    if waiting.held:
        pipe.zadd(keys.held, waiting.held)
    pipe.set(keys.marker, datetime.now(UTC).isoformat())
    pipe.execute()
    return missing + list(waiting.held)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
