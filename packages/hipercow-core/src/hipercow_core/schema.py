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
    UNREADABLE = "unreadable"  # a file of the task is corrupt; the error names it

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
    """What a task asks of the cluster; memory is in megabytes (1 GB = 1000 MB).

    `threads_per_process` and `thread_variables` say how the task uses its
    cores, not what it asks for: the runner sets the thread-count variables
    (`OMP_NUM_THREADS`, ...) to `threads_per_process` (default: all its
    cores), or none of them when `thread_variables` is off.
    """

    cores: int | Literal["node"] = 1
    exclusive: bool = False
    max_runtime: int | None = None
    hold_until: HoldUntil | None = None
    memory_per_node: int | None = None
    memory_per_task: int | None = None
    requested_nodes: tuple[str, ...] = ()
    priority: Priority = "normal"
    queue: str | None = None
    threads_per_process: int | None = None
    thread_variables: bool = True


class TaskSecrets(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A task's secret environment variables, each sealed to one user's public key.

    Only ciphertext is stored (`values`: variable name -> base64 sealed box),
    so colleagues who can read the share learn the names and nothing else.
    `user` and `public_key` say whose key opens them, so a node holding the
    wrong key can say whose was needed; `key_path` is where the private key
    lives on the nodes when it is not in the home directory of the user.
    """

    user: str
    public_key: str
    values: dict[str, str]
    key_path: str | None = None


class RetryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Automatic retries: how many are left, for which reasons, and how each scales its resources.

    `on` holds reasons from `hipercow_core.outcomes` ("timed out", "lost", ...);
    each retry multiplies the memory request by `memory` and `--max-runtime`
    by `runtime`, and carries the policy with one retry fewer.
    """

    retries: int
    on: tuple[str, ...]
    memory: float = 1.0
    runtime: float = 1.0


class TaskData(msgspec.Struct, frozen=True, omit_defaults=True):
    """Everything needed to run a task, written once at creation and never changed.

    `path` is the working directory relative to the root's project directory
    (POSIX separators), so the task runs on any node whatever the mount point.
    `bundle`, `retry_of` and `depends_on` are the links that bundles, retries
    and dependencies use; `after_any` are dependencies that need only have
    ended, whatever their outcome (`--after-any`). `name` (also the scheduler's job name) and `tags`
    are the user's own labels, for finding tasks again (`task list`).
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
    secrets: TaskSecrets | None = None
    after_any: tuple[str, ...] = ()
    retry_policy: RetryPolicy | None = None
    name: str | None = None
    tags: dict[str, str] = {}
    max_log_size: int | None = None  # bytes of output kept; None: the runner's default


class SubmittedMarker(msgspec.Struct, frozen=True, omit_defaults=True):
    """Written by core when the driver's scheduler has accepted the task.

    `depends_on` repeats the task's dependencies, so a status check can see
    that a queued task waits on a failed one without reading its data.
    `not_before` is the task's `hold_until` as resolved for the scheduler,
    so people see the time it will start, not "tonight"; `held_zone` is the
    submitting machine's zone it was resolved in (named times are that
    machine's local wall-clock times).
    """

    time: datetime
    driver: str
    job_id: str | None = None
    depends_on: tuple[str, ...] = ()
    not_before: datetime | None = None
    held_zone: str | None = None


class RunningMarker(msgspec.Struct, frozen=True, omit_defaults=True):
    """Written by the runner on the node when the task starts.

    `hipercow_version` is the runner's own, so a node running another
    release than the submitting machine shows in `task info`. `worker` is
    the pool worker that took the task, when one did (see `claim_running`).
    """

    time: datetime
    host: str
    pid: int
    hipercow_version: str | None = None
    worker: str | None = None


class Usage(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a task used, measured by the runner (no scheduler accounting needed).

    `cpu_seconds` is user plus system time of the whole process tree;
    `peak_memory` the largest resident memory seen (bytes), of the tree at
    one moment or of its largest process, whichever is more; `cores` what
    the task was given on the node, so its CPU efficiency can be judged.
    """

    cpu_seconds: float
    user_seconds: float
    system_seconds: float
    wall_seconds: float
    peak_memory: int
    cores: int


class FinishedMarker(msgspec.Struct, frozen=True, omit_defaults=True):
    """The one terminal marker, written once by whoever learns the outcome first.

    `reason` comes from one vocabulary (`hipercow_core.outcomes`); `note` says
    the particulars in words (which job, what the scheduler said).
    """

    status: TaskStatus
    time: datetime
    exit_code: int | None = None
    reason: str | None = None
    note: str | None = None
    usage: Usage | None = None


class TaskTimes(msgspec.Struct, frozen=True, omit_defaults=True):
    """When a task was made, sent, started and ended; `not_before` is its resolved hold."""

    created: datetime
    submitted: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    not_before: datetime | None = None


class TaskInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """A task's data and everything the files say about how it went.

    `waited_seconds` is from submission to start; `ran_seconds` from start
    to finish, or to the moment of asking while it runs (None when unknown).
    `held_zone` is the zone its hold (`times.not_before`) was resolved in.
    """

    id: str
    status: TaskStatus
    data: TaskData
    times: TaskTimes
    driver: str | None = None
    job_id: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    host: str | None = None
    note: str | None = None
    waited_seconds: float | None = None
    ran_seconds: float | None = None
    held_zone: str | None = None
    usage: Usage | None = None
    node_version: str | None = None
    waiting_reason: str | None = None
    log_truncated: bool = False


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


class PublicKeyRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A user's public key, kept in the root (`keys/USER.json`) so anyone's tasks can be sealed.

    `key_path` is where that user's private key is on the cluster's nodes,
    when it is not the default in their home directory.
    """

    user: str
    public_key: str
    created: datetime
    key_path: str | None = None


class PrivateKeyFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A user's key pair, in a file only that user can read (mode 600 on POSIX)."""

    user: str
    public_key: str
    private_key: str
    created: datetime


class RootMeta(msgspec.Struct, frozen=True):
    """The root's own identity file, `hipercow/hipercow.json`."""

    schema_version: int
    created: datetime
    hipercow_version: str


#: A value in a bundle's row of data: text from the command line, or plain data from Python.
DataValue = str | int | float | bool | None


class Bundle(msgspec.Struct, frozen=True):
    """A named list of tasks made together; deleting it never deletes the tasks.

    `data` holds, for each task (in the order of `task_ids`), the values that
    filled its template or the arguments of its call, so listings can say which
    task is which run and a sweep's results come back beside their inputs.
    """

    name: str
    created: datetime
    task_ids: tuple[str, ...]
    command: tuple[str, ...] = ()
    data: tuple[dict[str, DataValue], ...] = ()


# Environments and provisioning (hipercow_core.environments, hipercow_provision).

AttemptStatus = Literal["queued", "running", "success", "failure", "cancelled"]
InputsKind = Literal["packages", "requirements", "pyproject", "environment", "lock"]


class EnvironmentRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """An environment's identity, `environments/NAME/environment.json`; its builds live beside it.

    `python` is the interpreter request new builds start from (a version such
    as `3.12`, or a path); None means the interpreter hipercow itself runs with
    on the machine doing the build. `channels` are the conda channels the
    environment's builds use (the conda engine only), in priority order.
    """

    name: str
    engine: str
    created: datetime
    python: str | None = None
    channels: tuple[str, ...] = ()


class BuildRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One usable build of an environment for one platform and Python version.

    Written by the provisioning job after a successful attempt, and read by the
    runner on every task start, so entering an environment needs no engine
    code: paths are relative (POSIX separators) to the environment's directory
    (`prefix`) and to the prefix (`interpreter`, `path`), since mount points
    differ between machines. `interpreter` is None for a prefix without its
    own Python (a conda environment of command-line tools): Python tasks then
    run with hipercow's. `activate` lists POSIX shell scripts (relative to the
    prefix, e.g. conda's `etc/conda/activate.d/*.sh`) that the runner sources,
    in order, to set the variables of the task's environment.
    """

    key: str
    platform: str
    python_version: str
    prefix: str
    interpreter: str | None
    path: tuple[str, ...]
    attempt: str
    updated: datetime
    prefix_variable: str | None = "VIRTUAL_ENV"
    activate: tuple[str, ...] = ()


class PackageInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """One installed distribution: `source` is `index`, or where it came from (URL, path, VCS).

    Conda packages also carry their `build` string and archive `sha256`, and
    their `source` is the channel they came from.
    """

    name: str
    version: str
    source: str = "index"
    build: str | None = None
    sha256: str | None = None


class IncludedFile(msgspec.Struct, frozen=True):
    """A file that a requirements file includes (`-r`, `-c`), as read for an attempt.

    `included_from` is the `file` of the one that names it, and `as_written`
    the path as written there, so the installed copies can be linked again.
    """

    file: str
    content: str
    included_from: str
    as_written: str


class ProvisionInputs(msgspec.Struct, frozen=True, omit_defaults=True):
    """What an attempt was asked to install.

    `packages` holds requirement strings (given on the command line, or a
    pyproject's dependencies); `file` is where a requirements file or
    pyproject.toml was read from and `content` the requirements file as read,
    so the history shows exactly what was asked even after the file changed.
    An `environment` is a conda environment.yml (`content` as read); a `lock`
    is an earlier attempt's exact set (`file` its attempt id, `content` its
    lock). `channels` are the conda channels used, in priority order.
    `included` holds the files a requirements file includes, however deep.
    """

    kind: InputsKind
    packages: tuple[str, ...] = ()
    file: str | None = None
    content: str | None = None
    channels: tuple[str, ...] = ()
    included: tuple[IncludedFile, ...] = ()


class ProvisionAttempt(msgspec.Struct, frozen=True, omit_defaults=True):
    """An attempt as requested, `history/<id>/attempt.json`, written once before it starts.

    `environment` and `task_id` are None for the standalone `hipercow-provision`,
    which builds at `prefix` without a hipercow root. `engine_options` come
    from the driver's options that the engine names (its `driver_options`),
    e.g. the conda engine's `conda_executable` on the nodes.
    """

    id: str
    engine: str
    inputs: ProvisionInputs
    inputs_hash: str
    requested: datetime
    host: str
    environment: str | None = None
    python: str | None = None
    fresh: bool = False
    task_id: str | None = None
    driver: str | None = None
    prefix: str | None = None
    engine_options: dict[str, str] = msgspec.field(default_factory=dict)


class ProvisionResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """How an attempt ended, `history/<id>/result.json`: written once, by whoever knows first.

    The build writes it; when a job dies without writing it (killed, cancelled,
    node lost), the first reader that sees the job finished writes it instead.
    `packages` is the complete package list of the prefix afterwards, failed
    attempts included.
    """

    attempt: str
    status: AttemptStatus
    finished: datetime
    started: datetime | None = None
    host: str | None = None
    platform: str | None = None
    python_version: str | None = None
    build: str | None = None
    commands: tuple[tuple[str, ...], ...] = ()
    packages: tuple[PackageInfo, ...] = ()
    error: str | None = None


class ProvisionRunning(msgspec.Struct, frozen=True, omit_defaults=True):
    """The attempt in progress, `history/running.json`: the claim that keeps attempts apart."""

    attempt: str
    started: datetime
    host: str
    pid: int
    task_id: str | None = None
