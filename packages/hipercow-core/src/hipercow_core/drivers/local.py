"""The `local` driver: tasks run in the background on this machine.

Submitting puts tasks in a queue directory and makes sure a small daemon
(`hipercow_core.drivers.local_daemon`) is running; the daemon starts runners
in first-in-first-out order while the cores they ask for fit within the
configured limit, and exits once it has been idle for a moment. Runners are
detached, so tasks survive the command that submitted them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import msgspec

from hipercow_core import outcomes
from hipercow_core.base_environment import base_environment
from hipercow_core.drivers.protocol import (
    CancelReport,
    DependencyStyle,
    Driver,
    DriverFactory,
    JobRequest,
    JobState,
    SubmitReport,
    task_file,
)
from hipercow_core.errors import HipercowWarning
from hipercow_core.fsutil import atomic_write, read_bytes
from hipercow_core.log import get_logger
from hipercow_core.processes import OPEN_FLAGS, kill_tree, process_alive, start_detached
from hipercow_core.resources import zone_name
from hipercow_core.root import Root, hostname
from hipercow_core.schema import ClusterInfo, NodeInfo

log = get_logger(__name__)

LAUNCH_FILE = "local.json"
OUTER_LOG = "local.log"
CANCEL_FILE = "local-cancel"
_QUEUED = "queued"
_NOFOLLOW = OPEN_FLAGS
DAEMON_START_FILE = "daemon-start.json"
# How long a started daemon may take to hold its lock before another is started.
DAEMON_START_SECONDS = 30.0


# Tasks may share cores (waiting on disks or networks), but not without bound.
OVERSUBSCRIBE = 4


class LocalOptions(msgspec.Struct, forbid_unknown_fields=True):
    """`max_cores`: how many cores running tasks may use at once (default: all).

    `conda_executable`: a micromamba, mamba or conda on this machine for conda
    environments to be built with (default: py-rattler, no tool needed).
    """

    max_cores: int | None = None
    conda_executable: str | None = None

    def __post_init__(self) -> None:
        self.conda_executable = self.conda_executable or None
        cores = os.cpu_count() or 1
        if self.max_cores is not None and not 1 <= self.max_cores <= OVERSUBSCRIBE * cores:
            raise ValueError(
                f"max_cores must be from 1 to {OVERSUBSCRIBE * cores} "
                f"(this machine has {cores} cores), not {self.max_cores}"
            )

    def check_machine(self) -> None:
        """Warn (at `driver configure`) when this machine cannot give what is asked."""
        note = oversubscribed(self)
        if note is not None:
            warnings.warn(note, HipercowWarning, stacklevel=2)
        tool = self.conda_executable
        if tool is not None and shutil.which(tool) is None:
            warnings.warn(
                f"conda_executable '{tool}' is not found on this machine: conda "
                "environments will fail to build until it is (leave it out to use py-rattler)",
                HipercowWarning,
                stacklevel=2,
            )


def oversubscribed(options: LocalOptions) -> str | None:
    """Why `max_cores` exceeds this machine's cores, if it does: tasks would share cores."""
    cores = os.cpu_count() or 1
    if options.max_cores is None or options.max_cores <= cores:
        return None
    return (
        f"max_cores={options.max_cores} is more than this machine's "
        f"{cores} cores: tasks will share cores and run slower"
    )


class QueueEntry(msgspec.Struct, frozen=True):
    """A queued task: when it was queued (for first-in-first-out) and its start-not-before."""

    queued_ns: int
    not_before: datetime | None = None


class Launch(msgspec.Struct, frozen=True):
    """Which runner process the daemon started for a task, so it can be checked and killed."""

    pid: int
    create_time: float
    host: str
    time: datetime


def state_dir(root: Root) -> Path:
    """The daemon's queue and lock, per machine: each machine runs its own tasks."""
    return root.path / "local" / hostname()


def queue_dir(root: Root) -> Path:
    return state_dir(root) / "queue"


def lock_path(root: Root) -> Path:
    return state_dir(root) / "daemon.lock"


def max_cores(options: LocalOptions) -> int:
    return max(1, options.max_cores or os.cpu_count() or 1)


def read_launch(root: Root, task_id: str) -> Launch | None:
    raw = read_bytes(task_file(root, task_id, LAUNCH_FILE))
    return msgspec.json.decode(raw, type=Launch) if raw else None


def append_outer_log(root: Root, task_id: str, line: str) -> None:
    """One line of the driver's own log of a task; nothing when the task's directory is gone.

    The line is a courtesy: a task purged or deleted under the driver, or a
    full disk, must not stop the driver from looking after the other tasks.
    """
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
    path = task_file(root, task_id, OUTER_LOG)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o666)
    except OSError as e:
        log.info("outer log not written", task=task_id, reason=str(e))
        return
    try:
        os.write(fd, f"{stamp} {line}\n".encode())
    except OSError as e:
        log.info("outer log not written", task=task_id, reason=str(e))
    finally:
        os.close(fd)


def lost_state(detail: str) -> JobState:
    return JobState.ended(outcomes.failure(outcomes.LOST), detail)


def runner_pid(root: Root, task_id: str) -> int | None:
    """The pid in the task's running marker, when a runner on this machine wrote one."""
    import socket

    from hipercow_core.store import read_markers

    running = read_markers(root, task_id).running
    if running is None or running.host != socket.gethostname():
        return None
    return running.pid


def started_runner_alive(pid: int, task_id: str) -> bool:
    """Whether `pid` is still a runner of this task (pids get reused)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and task_id in process.cmdline()
    except psutil.Error:
        return False


def cancel_requested(root: Root, task_id: str) -> bool:
    """Whether a cancel stopped this task's runner (so its death is not a loss)."""
    return task_file(root, task_id, CANCEL_FILE).exists()


def daemon_running(root: Root) -> bool:
    from hipercow_core.file_locks import FileLock, LockTimeoutError

    lock = FileLock(lock_path(root))
    try:
        lock.acquire(timeout=0)
    except LockTimeoutError:
        return True
    lock.release()
    return False


class DaemonStart(msgspec.Struct):
    """The daemon last started, until it holds its lock: pid, creation time, when."""

    pid: int
    create_time: float
    started: float


def ensure_daemon(root: Root) -> None:
    """Start the queue daemon unless one is running or starting; a spare one exits at once.

    A daemon takes a moment (an interpreter's start) to take its lock, and
    commands that wait call this every round: without the record of the one
    just started, each round would start another, and a busy machine would
    spend its cores starting daemons that exit at once.

    The daemon gets only the base variables (`hipercow_core.base_environment`),
    since its runners inherit what it has.
    """
    if daemon_running(root) or _daemon_starting(root):
        return
    log.debug("starting local daemon", root=str(root.project))
    daemon_log = (state_dir(root) / "daemon.log").open("ab")
    with daemon_log:
        process = start_detached(
            [sys.executable, "-m", "hipercow_core.drivers.local_daemon", str(root.project)],
            stdin=subprocess.DEVNULL,
            stdout=daemon_log,
            stderr=daemon_log,
            close_fds=True,
            env=base_environment(os.environ),  # never this shell's own variables
        )
    import psutil

    try:
        created = psutil.Process(process.pid).create_time()
    except psutil.NoSuchProcess:  # it already exited: a spare, or it failed; nothing to wait for
        return
    record = DaemonStart(process.pid, created, time.time())
    atomic_write(state_dir(root) / DAEMON_START_FILE, msgspec.json.encode(record))


def _daemon_starting(root: Root) -> bool:
    """Whether the daemon started last is alive and young enough to be still starting."""
    try:
        data = read_bytes(state_dir(root) / DAEMON_START_FILE)
        record = msgspec.json.decode(data, type=DaemonStart) if data else None
    except (OSError, msgspec.DecodeError):
        record = None  # unreadable: start one; a spare exits at once
    if record is None:
        return False
    if not 0 <= time.time() - record.started < DAEMON_START_SECONDS:
        return False
    return process_alive(record.pid, record.create_time)


class LocalDriver(Driver[LocalOptions]):
    """Runs tasks on this machine, at most `max_cores` cores' worth at once.

    A task's job id is its task id: the queue and the launch record are kept
    per task.
    """

    name: ClassVar[str] = "local"
    options_type: ClassVar[type[msgspec.Struct]] = LocalOptions
    dependencies: ClassVar[DependencyStyle] = "files"

    def __init__(self, root: Root, options: LocalOptions) -> None:
        self.root = root
        self.options = options
        self._order: list[str] | None = None

    def submit(self, requests: Sequence[JobRequest]) -> SubmitReport:
        """Queue tasks for the daemon, each with its start-not-before time."""
        queue = queue_dir(self.root)
        queue.mkdir(parents=True, exist_ok=True)
        accepted: dict[str, str] = {}
        for request in requests:
            entry = QueueEntry(time.time_ns(), request.not_before)
            note = ""
            if entry.not_before is not None:
                held = entry.not_before.astimezone()
                note = f" (held until {held:%Y-%m-%d %H:%M} {zone_name(held)})"
            append_outer_log(self.root, request.task_id, f"queued on the local driver{note}")
            atomic_write(queue / request.task_id, msgspec.json.encode(entry))
            accepted[request.task_id] = request.task_id
        ensure_daemon(self.root)
        return SubmitReport(accepted=accepted)

    def expect_submission(self) -> None:
        """Start the daemon now: it takes an interpreter's start, which the submitter's own
        work then hides; it waits for the queue entry, or idles out if none comes."""
        state_dir(self.root).mkdir(parents=True, exist_ok=True)
        ensure_daemon(self.root)

    def status(self, jobs: Mapping[str, str]) -> dict[str, JobState]:
        """Find runners that died without an outcome; restart a dead daemon for queued tasks.

        A task accepted but missing from the queue (its submitter was killed
        half-way, or the entry was lost) never ran: it is queued again rather
        than called lost.
        """
        self._order = None
        result = {task_id: self._state(task_id) for task_id in jobs}
        if any(state.note == _QUEUED for state in result.values()):
            ensure_daemon(self.root)
        return result

    def _state(self, task_id: str) -> JobState:
        launch = read_launch(self.root, task_id)
        if launch is None:
            started = runner_pid(self.root, task_id)
            if started is not None:  # its directory was rebuilt by its runner
                if started_runner_alive(started, task_id):
                    return JobState.active()
                return lost_state(f"runner process {started} is gone")
            entry = queue_dir(self.root) / task_id
            if not entry.exists():
                self._requeue(task_id, entry)
                append_outer_log(self.root, task_id, "queued again: it was not in the local queue")
            return JobState.active(_QUEUED, waiting=self._why_queued(task_id))
        if launch.host != hostname() or process_alive(launch.pid, launch.create_time):
            return JobState.active()
        kill_tree(launch.pid, grace=0.5, create_time=launch.create_time)  # its orphans
        if cancel_requested(self.root, task_id):
            return JobState.ended(outcomes.cancelled(), "cancelled")
        return lost_state(f"runner pid {launch.pid} is gone without recording an outcome")

    def _queue_order(self) -> list[str]:
        """The queued tasks oldest first, read once per status call."""
        if self._order is None:
            entries: list[tuple[int, str]] = []
            with contextlib.suppress(FileNotFoundError):
                for path in queue_dir(self.root).iterdir():
                    raw = read_bytes(path)
                    if raw is not None and not path.name.startswith("."):
                        with contextlib.suppress(msgspec.DecodeError):
                            queued = msgspec.json.decode(raw, type=QueueEntry).queued_ns
                            entries.append((queued, path.name))
            self._order = [name for _, name in sorted(entries)]
        return self._order

    def _why_queued(self, task_id: str) -> str:
        """A queued task's place in words: held, waiting for dependencies, or for cores."""
        raw = read_bytes(queue_dir(self.root) / task_id)
        entry = msgspec.json.decode(raw, type=QueueEntry) if raw else None
        if entry is not None and entry.not_before is not None:
            held = entry.not_before.astimezone()
            if held > datetime.now(UTC):
                return f"held until {held:%Y-%m-%d %H:%M} {zone_name(held)}"
        from hipercow_core.dependencies import Readiness, ended, readiness
        from hipercow_core.store import read_task_data

        data = read_task_data(self.root, task_id)
        if readiness(self.root, data.depends_on) == Readiness.WAITING or not ended(
            self.root, data.after_any
        ):
            return "waiting for the tasks it depends on to finish"
        order = self._queue_order()
        place = order.index(task_id) + 1 if task_id in order else len(order)
        return f"number {place} of {len(order)} in the local queue, waiting for free cores"

    def _requeue(self, task_id: str, entry: Path) -> None:
        from hipercow_core.resources import resolve_hold_until
        from hipercow_core.store import read_task_data

        hold = read_task_data(self.root, task_id).resources.hold_until
        not_before = resolve_hold_until(hold, datetime.now(UTC)) if hold is not None else None
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(entry, msgspec.json.encode(QueueEntry(time.time_ns(), not_before)))

    def cancel(self, jobs: Mapping[str, str]) -> CancelReport:
        """Take queued tasks off the queue and kill running ones' whole process trees."""
        report = CancelReport()
        for task_id in jobs:
            launch = read_launch(self.root, task_id)
            if launch is not None and launch.host != hostname():
                report.refused[task_id] = f"it runs on {launch.host}: cancel it there"
                continue
            atomic_write(task_file(self.root, task_id, CANCEL_FILE), b"")
            (queue_dir(self.root) / task_id).unlink(missing_ok=True)
            launch = launch or read_launch(self.root, task_id)  # started meanwhile?
            if launch is not None:
                kill_tree(launch.pid, create_time=launch.create_time)
            append_outer_log(self.root, task_id, "cancelled")
            report.stopped.add(task_id)
        return report

    def outer_log(self, task_id: str, job_id: str | None) -> str | None:
        raw = read_bytes(task_file(self.root, task_id, OUTER_LOG))
        return raw.decode(errors="replace") if raw is not None else None

    def cluster_info(self) -> ClusterInfo:
        import psutil

        cores = max_cores(self.options)
        memory = psutil.virtual_memory().total // 1_000_000
        name = hostname()
        note = oversubscribed(self.options)
        return ClusterInfo(
            name=name,
            driver=self.name,
            max_cores=cores,
            max_memory=memory,
            nodes=(NodeInfo(name=name, cores=cores, memory=memory),),
            extra={"warning": note} if note else {},
        )


if TYPE_CHECKING:
    _checked: DriverFactory[LocalOptions] = LocalDriver
