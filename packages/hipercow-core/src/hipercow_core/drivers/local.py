"""The `local` driver: tasks run in the background on this machine.

Submitting puts tasks in a queue directory and makes sure a small daemon
(`hipercow_core.drivers.local_daemon`) is running; the daemon starts runners
in first-in-first-out order while the cores they ask for fit within the
configured limit, and exits once it has been idle for a moment. Runners are
detached, so tasks survive the command that submitted them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import msgspec

from hipercow_core.drivers.protocol import task_file
from hipercow_core.fsutil import atomic_write, read_bytes
from hipercow_core.log import get_logger
from hipercow_core.processes import detached_popen_kwargs, kill_tree, process_alive
from hipercow_core.resources import resolve_hold_until
from hipercow_core.root import Root, hostname
from hipercow_core.schema import (
    ClusterInfo,
    FinishedMarker,
    NodeInfo,
    SubmittedMarker,
    TaskStatus,
)
from hipercow_core.store import (
    ensure_task_dir,
    file_status,
    mark_finished,
    mark_submitted,
    read_task_data,
)

log = get_logger(__name__)

LAUNCH_FILE = "local.json"
OUTER_LOG = "local.log"


class LocalOptions(msgspec.Struct, forbid_unknown_fields=True):
    """`max_cores`: how many cores running tasks may use at once (default: all)."""

    max_cores: int | None = None


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
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
    with task_file(root, task_id, OUTER_LOG).open("a", encoding="utf-8") as f:
        f.write(f"{stamp} {line}\n")


def mark_lost(root: Root, task_id: str, detail: str) -> bool:
    """Record that a task's runner vanished without writing an outcome."""
    marker = FinishedMarker(TaskStatus.FAILURE, datetime.now(UTC), reason="lost")
    if mark_finished(root, task_id, marker):
        append_outer_log(root, task_id, f"lost: {detail}")
        return True
    return False


def daemon_running(root: Root) -> bool:
    from filelock import FileLock, Timeout

    lock = FileLock(lock_path(root))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def ensure_daemon(root: Root) -> None:
    """Start the queue daemon unless one is running; a spare one exits at once."""
    if daemon_running(root):
        return
    log.debug("starting local daemon", root=str(root.project))
    daemon_log = (state_dir(root) / "daemon.log").open("ab")
    with daemon_log:
        subprocess.Popen(
            [sys.executable, "-m", "hipercow_core.drivers.local_daemon", str(root.project)],
            stdin=subprocess.DEVNULL,
            stdout=daemon_log,
            stderr=daemon_log,
            close_fds=True,
            **detached_popen_kwargs(),
        )


class LocalDriver:
    """Runs tasks on this machine, at most `max_cores` cores' worth at once."""

    name: ClassVar[str] = "local"
    options_type: ClassVar[type[msgspec.Struct]] = LocalOptions

    def __init__(self, root: Root, options: msgspec.Struct) -> None:
        assert isinstance(options, LocalOptions)
        self.root = root
        self.options = options

    def submit(self, task_ids: Sequence[str]) -> None:
        """Queue tasks for the daemon; hold times are resolved once for the batch."""
        queue = queue_dir(self.root)
        queue.mkdir(parents=True, exist_ok=True)
        ensure_task_dir(self.root, task_ids)
        now = datetime.now(UTC)
        for task_id in task_ids:
            hold = read_task_data(self.root, task_id).resources.hold_until
            entry = QueueEntry(
                time.time_ns(), resolve_hold_until(hold, now) if hold is not None else None
            )
            mark_submitted(self.root, task_id, SubmittedMarker(now, self.name))
            note = f" (held until {entry.not_before:%Y-%m-%d %H:%M})" if entry.not_before else ""
            append_outer_log(self.root, task_id, f"queued on the local driver{note}")
            atomic_write(queue / task_id, msgspec.json.encode(entry))
        ensure_daemon(self.root)

    def status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """Find tasks whose runner died without an outcome; restart a dead daemon."""
        result: dict[str, TaskStatus] = {}
        queued = False
        for task_id in task_ids:
            status = file_status(self.root, task_id)
            if status.is_active:
                status, waiting = self._reconcile(task_id)
                queued = queued or waiting
            result[task_id] = status
        if queued:
            ensure_daemon(self.root)
        return result

    def _reconcile(self, task_id: str) -> tuple[TaskStatus, bool]:
        launch = read_launch(self.root, task_id)
        if launch is None:
            if (queue_dir(self.root) / task_id).exists():
                return file_status(self.root, task_id), True
            detail = "the task left the local queue without being started"
        elif launch.host != hostname() or process_alive(launch.pid, launch.create_time):
            return file_status(self.root, task_id), False
        else:
            detail = f"runner process {launch.pid} is gone"
        if mark_lost(self.root, task_id, detail) and launch is not None:
            kill_tree(launch.pid, grace=0.5)
        return file_status(self.root, task_id), False

    def cancel(self, task_ids: Sequence[str]) -> dict[str, bool]:
        result: dict[str, bool] = {}
        for task_id in task_ids:
            marker = FinishedMarker(TaskStatus.CANCELLED, datetime.now(UTC), reason="cancelled")
            if file_status(self.root, task_id).is_terminal or not mark_finished(
                self.root, task_id, marker
            ):
                result[task_id] = False
                continue
            (queue_dir(self.root) / task_id).unlink(missing_ok=True)
            launch = read_launch(self.root, task_id)
            if launch is not None and launch.host == hostname():
                kill_tree(launch.pid)
            append_outer_log(self.root, task_id, "cancelled")
            result[task_id] = True
        return result

    def outer_log(self, task_id: str) -> str | None:
        raw = read_bytes(task_file(self.root, task_id, OUTER_LOG))
        return raw.decode(errors="replace") if raw is not None else None

    def cluster_info(self) -> ClusterInfo:
        import psutil

        cores = max_cores(self.options)
        memory = psutil.virtual_memory().total // 1_000_000
        name = hostname()
        return ClusterInfo(
            name=name,
            driver=self.name,
            max_cores=cores,
            max_memory=memory,
            nodes=(NodeInfo(name=name, cores=cores, memory=memory),),
        )
