"""The local driver's queue daemon: `python -m hipercow_core.drivers.local_daemon ROOT`.

One daemon per machine and root, guaranteed by a file lock. It starts queued
tasks first in, first out while their cores fit under the limit, reaps
runners, records a runner that died without an outcome as lost, and exits
after a short idle spell. A submitter that finds the lock free starts a new
daemon; a daemon about to exit re-checks the queue after releasing the lock,
so no queued task is ever left without a daemon.

Nothing that happens to one task stops the daemon: a task purged or deleted
under it, a corrupt queue entry, a full disk. The error goes to the daemon's
log (`local/<host>/daemon.log`), that task is dropped from the queue or left
for a status check to settle, and the others go on.

It is started by the command that queued a task, which is then waiting for
it: what only some tasks need (dependencies, settling a lost runner) is
imported when first needed, so the first runner starts sooner.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from hipercow_core import outcomes
from hipercow_core.base_environment import base_environment
from hipercow_core.cores import LOCAL_CPUS_VARIABLE
from hipercow_core.drivers.local import (
    LAUNCH_FILE,
    Launch,
    LocalDriver,
    LocalOptions,
    QueueEntry,
    append_outer_log,
    cancel_requested,
    lock_path,
    max_cores,
    queue_dir,
    read_launch,
    runner_pid,
    started_runner_alive,
)
from hipercow_core.drivers.protocol import task_file
from hipercow_core.drivers.registry import configured_entry, parse_options
from hipercow_core.errors import HipercowError, StorageError
from hipercow_core.file_locks import FileLock, LockTimeoutError
from hipercow_core.fsutil import atomic_write, read_bytes
from hipercow_core.processes import (
    OPEN_FLAGS,
    detached_popen_kwargs,
    kill_tree,
    process_alive,
    unpin,
    usable_cpus,
)
from hipercow_core.root import Root, hostname
from hipercow_core.schema import TaskData
from hipercow_core.store import file_status, log_path, read_task_data

_entry_decoder = msgspec.json.Decoder(QueueEntry)
POLL_SECONDS = 0.1
# With nothing running or queued a round is one directory listing, so the queue is
# watched closely: a daemon started ahead of its task starts it the moment it comes.
IDLE_POLL_SECONDS = 0.02
IDLE_SECONDS = 2.0


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    cores: int
    create_time: float
    cpus: tuple[int, ...] = ()


def _ended(code: int) -> str:
    """How a runner's process ended, in words ("killed by signal 9", not Python's -9)."""
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"


class Daemon:
    def __init__(self, root: Root) -> None:
        self.root = root
        self.running: dict[str, Running] = {}
        self.entries: dict[str, QueueEntry] = {}
        self.data: dict[str, TaskData] = {}
        self.cpus = usable_cpus()
        # Runners that exited whose outcome could not be written yet (a full disk).
        self.unsettled: dict[str, tuple[Running, int]] = {}
        self.reported: set[str] = set()

    def limit(self) -> int:
        """The configured core limit; all cores when the configuration cannot be read."""
        try:
            entry = configured_entry(self.root.machine_config(), "local")
            options: LocalOptions = parse_options(LocalDriver, entry.options)
        except HipercowError as e:
            self.report(None, e)
            options = LocalOptions()
        return max_cores(options)

    def report(self, task_id: str | None, error: BaseException) -> None:
        """One line in the daemon's log: what went wrong, and with which task."""
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        which = f"task {task_id}: " if task_id else ""
        with contextlib.suppress(OSError, ValueError):  # the log's disk may be full too
            sys.stderr.write(f"{stamp} {which}{type(error).__name__}: {error}\n")
            sys.stderr.flush()

    def queued(self) -> list[str]:
        """Queued task ids, oldest first."""
        try:
            names = [n for n in os.listdir(queue_dir(self.root)) if not n.startswith(".")]
        except FileNotFoundError:
            return []
        for name in names:
            if name not in self.entries:
                raw = read_bytes(queue_dir(self.root) / name)
                if raw is None:
                    continue
                try:
                    self.entries[name] = _entry_decoder.decode(raw)
                except (msgspec.DecodeError, msgspec.ValidationError) as e:
                    self.report(name, e)  # not an entry we wrote whole: drop it
                    (queue_dir(self.root) / name).unlink(missing_ok=True)
        present = [n for n in names if n in self.entries]
        return sorted(present, key=lambda n: (self.entries[n].queued_ns, n))

    def dequeue(self, task_id: str) -> None:
        (queue_dir(self.root) / task_id).unlink(missing_ok=True)
        self.entries.pop(task_id, None)
        self.data.pop(task_id, None)

    def start_queued(self) -> None:
        """Start queued tasks first in, first out, while their cores fit.

        Tasks held back (a start time not reached, dependencies not finished)
        are passed over without blocking those behind them.
        """
        queued = self.queued()
        if not queued:
            return
        limit = self.limit()
        used = sum(r.cores for r in self.running.values())
        now = datetime.now(UTC)
        for task_id in queued:
            try:
                if not self.consider(task_id, limit, used, now):
                    return
            except Exception as e:
                self.report(task_id, e)
                self.dequeue(task_id)
                continue
            if task_id in self.running:
                used += self.running[task_id].cores

    def consider(self, task_id: str, limit: int, used: int, now: datetime) -> bool:
        """Start one queued task if it may start now; False when the cores are used up."""
        try:
            data = self.data.get(task_id) or read_task_data(self.root, task_id)
        except HipercowError:
            self.dequeue(task_id)
            return True
        self.data[task_id] = data
        not_before = self.entries[task_id].not_before
        if not_before is not None and now < not_before:
            return True
        if (data.after_any or data.depends_on) and self.held_back(task_id, data):
            return True
        cores = limit if data.resources.cores == "node" else min(int(data.resources.cores), limit)
        if used + cores > limit and self.running:
            return False
        if file_status(self.root, task_id).is_terminal:  # cancelled while queued
            self.dequeue(task_id)
            return True
        if self.runner_alive(task_id):  # submitted again while it runs: never run it twice
            self.dequeue(task_id)
            return True
        self.launch(task_id, cores)
        self.dequeue(task_id)
        return True

    def held_back(self, task_id: str, data: TaskData) -> bool:
        """Whether its dependencies keep a task waiting; one that failed fails the task."""
        from hipercow_core.dependencies import Readiness, ended, readiness
        from hipercow_core.jobs import fail_not_started

        if data.after_any and not ended(self.root, data.after_any):
            return True
        if not data.depends_on:
            return False
        state = readiness(self.root, data.depends_on)
        if state == Readiness.FAILED:
            fail_not_started(self.root, task_id)
            self.dequeue(task_id)
            return True
        return state == Readiness.WAITING

    def runner_alive(self, task_id: str) -> bool:
        """Whether a runner of this task is alive: by its launch record, else its marker."""
        launch = read_launch(self.root, task_id)
        if launch is not None:
            return launch.host == hostname() and process_alive(launch.pid, launch.create_time)
        pid = runner_pid(self.root, task_id)
        return pid is not None and started_runner_alive(pid, task_id)

    def free_cpus(self, cores: int) -> tuple[int, ...]:
        """CPUs no running task holds, `cores` of them; none when too few are free.

        Tasks get disjoint CPU sets while they fit (a `max_cores` above the
        machine's CPUs, or a daemon confined to fewer, leaves later tasks
        unpinned, sharing every CPU as before).
        """
        taken = {cpu for running in self.running.values() for cpu in running.cpus}
        free = [cpu for cpu in self.cpus if cpu not in taken]
        return tuple(free[:cores]) if len(free) >= cores else ()

    def launch(self, task_id: str, cores: int) -> None:
        cpus = self.free_cpus(cores)
        env = base_environment(os.environ)
        env.pop(LOCAL_CPUS_VARIABLE, None)  # a daemon started from inside a local task
        if cpus:
            env[LOCAL_CPUS_VARIABLE] = ",".join(map(str, cpus))
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | OPEN_FLAGS
        with open(os.open(log_path(self.root, task_id), flags, 0o666), "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hipercow_core.run",
                    "--root",
                    str(self.root.project),
                    task_id,
                ],
                cwd=self.root.project,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                **detached_popen_kwargs(),
            )
        import psutil

        try:
            created = psutil.Process(process.pid).create_time()
        except psutil.NoSuchProcess:
            created = time.time()
        launch = Launch(process.pid, created, hostname(), datetime.now(UTC))
        atomic_write(task_file(self.root, task_id, LAUNCH_FILE), msgspec.json.encode(launch))
        on = f" on CPU{'' if len(cpus) == 1 else 's'} {','.join(map(str, cpus))}" if cpus else ""
        append_outer_log(
            self.root,
            task_id,
            f"started runner pid {process.pid} ({cores} core{'' if cores == 1 else 's'}{on})",
        )
        self.running[task_id] = Running(process, cores, created, cpus)

    def reap(self) -> None:
        for task_id, running in list(self.running.items()):
            code = running.process.poll()
            if code is None:
                continue
            del self.running[task_id]
            self.unsettled[task_id] = (running, code)
        for task_id, (running, code) in list(self.unsettled.items()):
            try:
                self.settle_exited(task_id, running, code)
            except StorageError as e:  # a full disk: try again next round
                if task_id not in self.reported:
                    self.report(task_id, e)
                    self.reported.add(task_id)
                continue
            except Exception as e:  # e.g. the task was purged under us
                self.report(task_id, e)
            del self.unsettled[task_id]
            self.reported.discard(task_id)

    def settle_exited(self, task_id: str, running: Running, code: int) -> None:
        """Record a runner that exited without writing the task's outcome."""
        from hipercow_core.jobs import settle
        from hipercow_core.run import EXIT_UNRECORDED

        append_outer_log(self.root, task_id, f"runner exited with code {code}")
        if not file_status(self.root, task_id).is_active or cancel_requested(self.root, task_id):
            return  # finished, cancelled or gone: nothing to settle
        if code == EXIT_UNRECORDED:
            outcome = outcomes.failure(outcomes.UNRECORDED)
            note = "the runner finished but could not write the outcome (full or read-only disk?)"
        else:
            outcome = outcomes.failure(outcomes.LOST)
            note = f"runner pid {running.process.pid} {_ended(code)} without recording an outcome"
        if settle(self.root, task_id, outcome, note):
            kill_tree(running.process.pid, grace=0.5, create_time=running.create_time)

    def step(self) -> bool:
        """One round of reaping and starting; True while there is work.

        Whatever goes wrong in a round is logged and the next round tries
        again: the daemon outlives anything that happens to one task.
        """
        try:
            self.reap()
            self.start_queued()
            return bool(self.running or self.unsettled or self.queued())
        except Exception as e:
            self.report(None, e)
            return bool(
                self.running
            )  # idle out if this keeps failing; the next command restarts it

    def serve(self, lock: FileLock) -> None:
        idle_since: float | None = None
        while True:
            busy = self.step()
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_SECONDS:
                lock.release()
                if not self.queued():
                    return
                try:
                    lock.acquire(timeout=0)
                except LockTimeoutError:
                    return
                idle_since = None
            time.sleep(POLL_SECONDS if busy else IDLE_POLL_SECONDS)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Root(Path(args[0]))
    lock_file = lock_path(root)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_file)
    try:
        lock.acquire(timeout=0)
    except LockTimeoutError:
        return 0
    unpin()  # started from inside a pinned task, it would hand out only that task's CPUs
    try:
        Daemon(root).serve(lock)
    finally:
        if lock.is_locked:
            lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
