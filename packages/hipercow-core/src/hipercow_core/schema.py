"""The msgspec records that every hipercow package reads and writes.

These structs are the one schema shared by the core, the CLI and the drivers:
nobody writes JSON for these files by hand. Each file on disk carries
`SCHEMA_VERSION` in the root's `hipercow.json`, so a later release can tell an
old root from a new one.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal

import msgspec

SCHEMA_VERSION = 1


class TaskStatus(enum.StrEnum):
    """Where a task is in its life; terminal statuses never change."""

    CREATED = "created"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    MISSING = "missing"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_active(self) -> bool:
        """Submitted or running: the scheduler, not the files, may know more."""
        return self in (TaskStatus.SUBMITTED, TaskStatus.RUNNING)


_TERMINAL = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.CANCELLED})

TaskKind = Literal["shell", "python", "script", "call"]
Priority = Literal["low", "normal"]
HoldKind = Literal["at", "after", "tonight", "midnight", "weekend"]


class HoldUntil(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A start-not-before request, kept as typed so it resolves at submission.

    `tonight`, `midnight`, `weekend` and relative durations (`after`) are
    resolved once per submission, so every task of a batch agrees on the time.
    """

    kind: HoldKind
    at: datetime | None = None
    minutes: int | None = None


class Resources(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """What a task asks of the cluster; memory is in megabytes (1 GB = 1000 MB)."""

    cores: int | Literal["node"] = 1
    exclusive: bool = False
    max_runtime: int | None = None
    hold_until: HoldUntil | None = None
    memory_per_node: int | None = None
    memory_per_task: int | None = None
    requested_nodes: tuple[str, ...] = ()
    priority: Priority = "normal"
    queue: str | None = None


class TaskData(msgspec.Struct, frozen=True, omit_defaults=True):
    """Everything needed to run a task, written once at creation and never changed.

    `path` is the working directory relative to the root's project directory
    (POSIX separators), so the task runs on any node whatever the mount point.
    `bundle`, `retry_of` and `depends_on` are the links that bundles, retries
    and dependencies use.
    """

    id: str
    kind: TaskKind
    command: tuple[str, ...]
    path: str
    created: datetime
    resources: Resources = Resources()
    environment: str | None = None
    envvars: dict[str, str] = {}
    driver: str | None = None
    bundle: str | None = None
    retry_of: str | None = None
    depends_on: tuple[str, ...] = ()
    payload: dict[str, str] = {}


class SubmittedMarker(msgspec.Struct, frozen=True, omit_defaults=True):
    """Written by the submitter when the driver has accepted the task."""

    time: datetime
    driver: str
    job_id: str | None = None


class RunningMarker(msgspec.Struct, frozen=True, omit_defaults=True):
    """Written by the runner on the node when the task starts."""

    time: datetime
    host: str
    pid: int


class FinishedMarker(msgspec.Struct, frozen=True, omit_defaults=True):
    """The one terminal marker, written once by whoever learns the outcome first."""

    status: TaskStatus
    time: datetime
    exit_code: int | None = None
    reason: str | None = None


class TaskTimes(msgspec.Struct, frozen=True, omit_defaults=True):
    created: datetime
    submitted: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None


class TaskInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """A task's data and everything the files say about how it went."""

    id: str
    status: TaskStatus
    data: TaskData
    times: TaskTimes
    driver: str | None = None
    job_id: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    host: str | None = None


class NodeInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    cores: int
    memory: int
    state: str = "idle"
    queues: tuple[str, ...] = ()


class QueueInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    default: bool = False
    max_runtime: int | None = None
    nodes: tuple[str, ...] = ()


class SoftwareInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    version: str
    platform: str | None = None
    module: str | None = None


class ClusterInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a cluster offers; resources are validated against it at creation."""

    name: str
    driver: str
    max_cores: int
    max_memory: int
    queues: tuple[QueueInfo, ...] = ()
    default_queue: str | None = None
    nodes: tuple[NodeInfo, ...] = ()
    software: tuple[SoftwareInfo, ...] = ()
    extra: dict[str, str] = {}

    def queue(self, name: str) -> QueueInfo | None:
        return next((q for q in self.queues if q.name == name), None)


class DriverEntry(msgspec.Struct, frozen=True):
    """One configured driver: its name and its own options (a driver-defined struct)."""

    name: str
    options: dict[str, object] = {}


class MachineConfig(msgspec.Struct, omit_defaults=True):
    """Driver configuration for one machine (hostname): mount points differ per machine."""

    drivers: list[DriverEntry] = []
    default: str | None = None


class RootMeta(msgspec.Struct, frozen=True):
    """The root's own identity file, `hipercow/hipercow.json`."""

    schema_version: int
    created: datetime
    hipercow_version: str
