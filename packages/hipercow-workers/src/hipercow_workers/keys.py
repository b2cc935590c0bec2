"""What the pool keeps in Redis: only ids, heartbeats and control messages.

The task store stays the one source of truth for tasks (their data, status,
logs and results); Redis holds what is needed to hand ids to workers and to
know whether they are alive, so losing Redis loses no task. Every key of one
hipercow root lives under one prefix, derived from the root's creation time
so that it is the same on every machine whatever the share's mount point.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

import msgspec

from hipercow_core.root import Root

WorkerState = Literal["idle", "busy", "lost", "exited"]

#: The pool's driver name, as tasks' submission markers record it.
DRIVER_NAME = "workers"

#: Control messages a worker reads before any task.
STOP = "stop"
STOP_WHEN_IDLE = "stop-when-idle"
CANCEL = "cancel"


def namespace(root: Root) -> str:
    """A short name for the root, the same wherever its share is mounted."""
    created = root.meta().created.isoformat()
    return hashlib.sha256(created.encode()).hexdigest()[:12]


class Keys:
    """The Redis key names of one root's pool."""

    def __init__(self, namespace: str) -> None:
        self.prefix = f"hipercow:{namespace}:"

    @property
    def queue(self) -> str:
        """The list of queued task ids: pushed at the tail, popped at the head (FIFO)."""
        return self.prefix + "queue"

    @property
    def marker(self) -> str:
        """Set once the queue is known to hold every waiting task; absent after Redis lost its data.

        See `hipercow_workers.rebuild`.
        """
        return self.prefix + "queue-whole"

    @property
    def held(self) -> str:
        """Sorted set of tasks held until a time (score: seconds since the epoch)."""
        return self.prefix + "held"

    @property
    def claims(self) -> str:
        """Hash task id -> worker id for the tasks a worker has taken."""
        return self.prefix + "claims"

    @property
    def workers(self) -> str:
        """Hash worker id -> its `WorkerRecord` (JSON)."""
        return self.prefix + "workers"

    def control(self, worker_id: str) -> str:
        """A worker's own list of control messages."""
        return f"{self.prefix}control:{worker_id}"

    def heartbeat(self, worker_id: str) -> str:
        """Renewed every period, expires after three: absent means the worker is gone."""
        return f"{self.prefix}heartbeat:{worker_id}"


class WorkerRecord(msgspec.Struct, omit_defaults=True):
    """What a worker says about itself, rewritten after each task and heartbeat.

    Which task a worker is running is read from the claims, which are
    updated in the same call that hands it the task.
    """

    id: str
    host: str
    pid: int
    started: datetime
    state: WorkerState = "idle"
    done: int = 0
    last_beat: datetime | None = None


def decode_record(raw: bytes | str) -> WorkerRecord:
    return msgspec.json.decode(raw, type=WorkerRecord)
