"""The driver contract: a driver talks to its scheduler, core keeps the files.

A driver knows one kind of cluster. It is handed job requests and job ids in
batches (clusters punish one request per task) and answers what the
scheduler said; it never writes a status marker. Core (`hipercow_core.jobs`)
does everything that is the same on every cluster, once: task directories,
the order of a batch so dependencies go first, failing a task whose
dependency already failed, `submitted` markers, reconciling what the
scheduler says with write-once terminal markers, one vocabulary of outcomes
(`hipercow_core.outcomes`), and one policy for a scheduler that cannot be
reached (raise `SchedulerUnavailableError`: core falls back to the files and
warns once).

Drivers subclass `Driver[TheirOptions]` to inherit the defaults of the
optional capabilities, and each driver module has a line that makes mypy
check its class against `DriverFactory`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import msgspec

from hipercow_core.outcomes import Outcome
from hipercow_core.root import Root
from hipercow_core.schema import ClusterInfo, TaskData

OptionsT = TypeVar("OptionsT", bound=msgspec.Struct)

#: How a driver's scheduler learns about dependencies between tasks.
#: "jobs": by job id (Slurm's afterok, the portal's dep field), so core hands
#: each request the job ids of its unfinished dependencies, submitting a batch
#: in rounds so that dependencies have ids first; "files": the driver's own
#: queue reads dependency statuses from the task files (local, workers).
DependencyStyle = Literal["jobs", "files"]


class JobRequest(msgspec.Struct, frozen=True):
    """One task to hand to the scheduler, with what core resolved for it.

    `not_before` is the task's `hold_until`, resolved once per batch so every
    task of one submission agrees on "tonight". `after_jobs` holds the job ids
    (of this driver) of dependencies not yet finished; dependencies that
    already succeeded are left out, and a task with a failed dependency is
    never requested. `after_any_jobs` are the job ids of unfinished
    `--after-any` dependencies: the job starts once they end, whatever their
    outcome (a driver whose scheduler cannot say so refuses the request).
    """

    task_id: str
    data: TaskData
    not_before: datetime | None = None
    after_jobs: tuple[str, ...] = ()
    after_any_jobs: tuple[str, ...] = ()


class SubmitReport(msgspec.Struct):
    """What the scheduler accepted (task id -> job id) and refused (task id -> why).

    A task in neither was not tried (e.g. the scheduler became unreachable
    half-way): it is counted as not submitted with `hint` as the reason.
    `hint` says what the user can do about the refusals.
    """

    accepted: dict[str, str] = {}
    refused: dict[str, str] = {}
    hint: str | None = None
    unreachable: str | None = None


JobStateKind = Literal["active", "ended", "unknown"]


class JobState(msgspec.Struct, frozen=True, omit_defaults=True):
    """What the scheduler says of one job.

    `active`: queued or running (it may still run); `ended`: finished, and
    `outcome` is what that means for a task whose runner recorded nothing;
    `unknown`: the scheduler no longer knows the job at all. `note` is a
    sentence for the task's outer log (the scheduler's own words, the job id).
    `waiting` says, in words, why a queued job has not started (Slurm's
    pending reason, the local queue position), for `task info`.
    """

    kind: JobStateKind
    outcome: Outcome | None = None
    note: str | None = None
    waiting: str | None = None

    @classmethod
    def active(cls, note: str | None = None, waiting: str | None = None) -> JobState:
        return cls("active", note=note, waiting=waiting)

    @classmethod
    def ended(cls, outcome: Outcome, note: str | None = None) -> JobState:
        return cls("ended", outcome, note)

    @classmethod
    def unknown(cls, note: str | None = None) -> JobState:
        return cls("unknown", note=note)


class CancelReport(msgspec.Struct):
    """Which jobs the scheduler stopped (task ids) and which it would not stop, and why."""

    stopped: set[str] = set()
    refused: dict[str, str] = {}


class Driver(Protocol[OptionsT]):
    """A configured driver bound to one root; every method takes a batch.

    Jobs are named by task id -> job id mappings: the job id is whatever
    `submit` returned for the task (core keeps it in `submitted.json`).
    """

    name: ClassVar[str]
    options_type: ClassVar[type[msgspec.Struct]]
    #: How dependencies reach the scheduler (see `DependencyStyle`).
    dependencies: ClassVar[DependencyStyle] = "jobs"
    #: The longest pause between two polls of a long wait: each poll asks the scheduler.
    max_poll_interval: ClassVar[float] = 1.0

    options: OptionsT

    def submit(self, requests: Sequence[JobRequest]) -> SubmitReport:
        """Hand tasks to the scheduler; report each one's job id, or why it was refused.

        Task directories exist already (for scripts and logs). Raise
        `SchedulerUnavailableError` only if nothing could be tried at all.
        """
        ...

    def status(self, jobs: Mapping[str, str]) -> dict[str, JobState]:
        """The state of these jobs (task id -> job id), in one batched query.

        A job left out of the answer is taken as still active. Raise
        `SchedulerUnavailableError` when the scheduler cannot be asked now.
        """
        ...

    def cancel(self, jobs: Mapping[str, str]) -> CancelReport:
        """Stop these jobs (task id -> job id): report the tasks whose jobs were stopped."""
        ...

    def outer_log(self, task_id: str, job_id: str | None) -> str | None:
        """The scheduler's own log of the task's job, or None if it has none."""
        ...

    def cluster_info(self) -> ClusterInfo:
        """Queues, nodes, cores, memory and limits used to validate resources.

        May be a saved answer (then `extra["cached_at"]` says when it was
        saved), so that creating tasks need not ask the scheduler.
        """
        ...

    def fresh_cluster_info(self) -> ClusterInfo:
        """The cluster as the scheduler says it is now: for `cluster info`, and for
        checking again a request that a saved answer refused."""
        return self.cluster_info()

    def build_queue(self) -> str | None:
        """The queue or partition that environment provisioning jobs go to, if any."""
        return None

    def forget(self, jobs: Mapping[str, str]) -> None:
        """These tasks (task id -> job id) are about to be purged: drop what the driver keeps of them.

        Called by `purge` just before it removes the tasks. A driver that keeps
        files outside the tasks' directories (a job array's record, a batch
        script's directory) removes those no remaining task needs (default:
        nothing, for drivers that keep nothing of their own).
        """
        return  # a body, so that the protocol does not make it abstract

    def expect_submission(self) -> None:
        """A command will submit shortly and then wait: get ready meanwhile (default: nothing).

        The local driver starts its daemon here, so the daemon's start-up
        overlaps the command's own work instead of following it.
        """
        return  # a body, so that the protocol does not make it abstract

    def describe(self) -> dict[str, str]:
        """What `hipercow configuration` shows beyond the options (shares, a service's reach).

        Never a secret; may contact the scheduler or its services briefly.
        """
        return {}

    def configure_warnings(self) -> list[str]:
        """What a driver just configured can already tell is missing, each with what to run.

        Checked at `hipercow driver configure` (the options are saved all the
        same), so a missing login shows there rather than at the first task.
        Must be quick: at most one short scheduler query, where the driver
        runs beside its scheduler (slurm's login node), never a slow one.
        """
        return []


#: A driver whatever its options, as core sees it.
AnyDriver = Driver[Any]


class DriverFactory(Protocol[OptionsT]):
    """A driver class: constructed with the root and its parsed options."""

    @property
    def name(self) -> str: ...

    @property
    def options_type(self) -> type[msgspec.Struct]: ...

    def __call__(self, root: Root, options: OptionsT) -> Driver[OptionsT]: ...


def task_file(root: Root, task_id: str, name: str) -> Path:
    """A driver's own file inside the task directory."""
    return root.task_dir(task_id) / name
