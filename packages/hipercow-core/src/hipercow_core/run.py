"""`hipercow-task-run ID`: the thin runner that a scheduler starts on a node.

It imports little (msgspec and the store), since it starts once per task.
It marks the task running, runs the work in the task's directory with the
task's environment variables, sends stdout and stderr straight into the task
log as they are written, and records the outcome as the terminal marker.
When the runner itself is told to stop (SIGTERM from a scheduler enforcing a
time limit, or a cancel), it writes no outcome: the party that stopped it
knows the reason better and records it.

A task with secrets has them decrypted here, on the node, into its
environment only; its output then passes through the runner, which masks
every secret value before the log sees it. PyNaCl is loaded only then.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from hipercow_core import outcomes
from hipercow_core.cores import LOCAL_CPUS_VARIABLE, core_variables, granted_cores, parse_cpus
from hipercow_core.errors import HipercowError, SecretError, UnsafePathError
from hipercow_core.fsutil import no_links
from hipercow_core.processes import (
    OPEN_FLAGS,
    contain_own_tree,
    runnable_command,
    stop_signals,
    stopper,
    task_environment_defaults,
)
from hipercow_core.root import Root
from hipercow_core.schema import FinishedMarker, RunningMarker, TaskData, TaskStatus, Usage

if TYPE_CHECKING:
    from hipercow_core.redact import Redactor

from hipercow_core.store import (
    RUNNING,
    claim_running,
    ensure_task_dir,
    file_status,
    log_path,
    mark_finished,
    mark_running,
    mark_submitted,
    read_submitted,
    read_task_data,
    task_exists,
)

USAGE = "usage: hipercow-task-run [--root PATH] [--claim-for WORKER] TASK_ID"
DEPENDENCY_POLL_SECONDS = 2.0
# Output kept per task unless the task says otherwise; the rest is dropped
# after a marker line, so `yes` cannot fill the share.
DEFAULT_MAX_LOG_SIZE = 1_000_000_000
LOG_TRUNCATED = "log.truncated"  # the same name tasks.task_info looks for
NO_RESULT = outcomes.NO_RESULT
# How long a finished runner keeps trying to record the outcome on a full or
# read-only disk, and the exit code that says it never could.
OUTCOME_RETRY_ENV = "HIPERCOW_OUTCOME_RETRY_SECONDS"
OUTCOME_RETRY_SECONDS = 120.0
EXIT_UNRECORDED = 75
#: With `--claim-for`: another runner had already taken the task, so this one did nothing.
EXIT_TAKEN = 76
_RESULT_FILES = ("result.json", "result.pkl")
MARKER_CHECK_SECONDS = 1.0
_CHUNK = 1 << 16
_OPEN_LOG = os.O_WRONLY | os.O_APPEND | os.O_CREAT | OPEN_FLAGS


class _Stopped:
    """Set when the runner receives SIGTERM/SIGINT, so the outcome is left to its stopper."""

    signal: int | None = None


def task_environment(
    root: Root,
    data: TaskData,
    secrets: dict[str, str] | None = None,
    driver: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The process environment of a task: ours, entered into its environment, plus its variables.

    Its cores' variables (`HIPERCOW_CORES`, `OMP_NUM_THREADS`, ...) come
    before its own `--env`, which always wins. `driver` is the one it was
    submitted to (default: the one it was made for), whose grant of cores
    is believed. Raises a HipercowError when the task's environment cannot
    be entered here (deleted, or never built for this platform). `base`
    is "ours" when given: a copy of `os.environ` kept by a process that
    starts many tasks, since copying `os.environ` itself decodes every
    variable each time.
    """
    env = dict(os.environ if base is None else base)
    # `empty` runs with our own interpreter as it is (provisioning jobs among them):
    # no need to load the environments module, the runner's largest import.
    if data.environment not in (None, "empty"):
        from hipercow_core.environments import activate

        env = activate(root, data.environment, env)
    cores = granted_cores(data.resources, driver or data.driver, os.environ)
    env.update(core_variables(data.resources, cores))
    env.update(data.envvars)
    env.update(secrets or {})
    env["HIPERCOW_TASK_ID"] = data.id
    env["HIPERCOW_ROOT"] = str(root.project)
    return task_environment_defaults(env)


def node_name() -> str:
    """The scheduler's name for this node when it gives one (several may share a host)."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def _now() -> datetime:
    return datetime.now(UTC)


class OutcomeNotRecordedError(Exception):
    """The outcome could not be written within the retry time (full or read-only disk)."""


def _finish(
    root: Root, task_id: str, code: int, reason: str | None = None, usage: Usage | None = None
) -> None:
    status = TaskStatus.SUCCESS if code == 0 and reason is None else TaskStatus.FAILURE
    marker = FinishedMarker(status, _now(), exit_code=code, reason=reason, usage=usage)
    _record(root, task_id, marker)


def _record(root: Root, task_id: str, marker: FinishedMarker) -> None:
    """Write the outcome, retrying while the disk refuses: the work is done and must not be lost.

    A full disk is often freed within minutes; if it is not, the runner
    exits with `EXIT_UNRECORDED`, which the driver reports as the reason.
    """
    deadline = time.monotonic() + float(os.environ.get(OUTCOME_RETRY_ENV, OUTCOME_RETRY_SECONDS))
    pause = 0.2
    while True:
        try:
            mark_finished(root, task_id, marker)
            return
        except (HipercowError, OSError) as e:
            if time.monotonic() >= deadline:
                raise OutcomeNotRecordedError(str(e)) from e
        time.sleep(pause)
        pause = min(pause * 2, 5.0)


def task_command(root: Root, data: TaskData) -> list[str]:
    """What to execute: a shell task's own command, or the Python executor for the others."""
    if data.kind == "shell":
        return runnable_command(data.command)
    from hipercow_core.interpreters import pyexec_command

    return pyexec_command(root, data.id, data.environment)


def _start(root: Root, data: TaskData, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        task_command(root, data),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _secrets(data: TaskData) -> dict[str, str]:
    """The task's secret values, opened with this user's private key (raises SecretError)."""
    if data.secrets is None:
        return {}
    from hipercow_core.secret_keys import unseal

    return unseal(data.secrets)


class LogPump:
    """Copies the task's output into its log as it comes, up to a size limit.

    Past the limit, one marker line is written and the rest is read and
    dropped (the task keeps running; it is not stopped for talking).
    """

    def __init__(
        self,
        source: int,
        log: int,
        limit: int,
        truncated_path: Path,
        secrets: Iterable[str] = (),
    ) -> None:
        self.source = source
        self.log = log
        self.limit = limit
        self.truncated_path = truncated_path
        self.written = 0
        self.dropped = 0
        self.redactor = _redactor(secrets)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while chunk := os.read(self.source, _CHUNK):
            self._keep(self.redactor.feed(chunk) if self.redactor else chunk)
        if self.redactor:
            self._keep(self.redactor.flush())

    def _keep(self, chunk: bytes) -> None:
        """Write what fits under the limit; count the rest as dropped."""
        if chunk:
            room = self.limit - self.written
            if room > 0:
                kept = chunk[:room]
                _write_all(self.log, kept)
                self.written += len(kept)
                chunk = chunk[room:]
                if chunk:
                    self._mark()
            self.dropped += len(chunk)

    def _mark(self) -> None:
        note = f"\nhipercow: output truncated at {self.limit} bytes (max_log_size)\n"
        _write_all(self.log, note.encode())
        self.truncated_path.write_text(f"{self.limit}\n")

    def finish(self, timeout: float = 2.0) -> None:
        """Wait for the output to drain; processes the task left behind may hold the pipe."""
        self.thread.join(timeout)


def _redactor(secrets: Iterable[str]) -> Redactor | None:
    """A masker of the task's secret values in its output, if it has any (imported only then)."""
    values = [v for v in secrets if v]
    if not values:
        return None
    from hipercow_core.redact import Redactor

    return Redactor(v.encode() for v in values)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError:
            return  # a full disk drops output; the outcome matters more


def _open_log(root: Root, task_id: str) -> int:
    """The task log, opened for appending without following a link planted in its place."""
    path = log_path(root, task_id)
    no_links(root.path, path.parent)
    try:
        return os.open(path, _OPEN_LOG, 0o666)
    except OSError as e:
        if os.path.islink(path):
            raise UnsafePathError(
                f"'{path}' is a symbolic link, which hipercow does not write through",
                "Remove the link, then run the task again.",
            ) from e
        raise


def _wait(
    root: Root, task_id: str, process: subprocess.Popen[bytes], running: RunningMarker
) -> int:
    """Wait for the command, putting back the task's markers if its directory vanishes.

    A task whose directory was deleted under it would otherwise read as
    `created` (its data is still there) and could be submitted, and run,
    a second time while it still runs.
    """
    submitted = read_submitted(root, task_id)
    exit_codes = _exit_codes(process)
    while True:
        try:
            return exit_codes.get(timeout=MARKER_CHECK_SECONDS)
        except queue.Empty:
            pass
        if not os.path.exists(root.task_dir(task_id) / RUNNING) and task_exists(root, task_id):
            with contextlib.suppress(HipercowError, OSError):
                if submitted is not None:
                    mark_submitted(root, task_id, submitted)
                mark_running(root, task_id, running)


def _exit_codes(process: subprocess.Popen[bytes]) -> queue.Queue[int]:
    """The command's exit status, delivered the moment it exits.

    A blocking wait in a thread, because `Popen.wait(timeout)` polls on
    POSIX (every 50 ms once it has waited a while), which every task's end
    would pay; the runner's own thread stays free for signals and markers.
    """
    codes: queue.Queue[int] = queue.Queue(maxsize=1)
    threading.Thread(target=lambda: codes.put(process.wait()), daemon=True).start()
    return codes


def _has_result(root: Root, task_id: str) -> bool:
    task_dir = root.task_dir(task_id)
    return any((task_dir / name).exists() for name in _RESULT_FILES)


def _forward_signals(process: subprocess.Popen[bytes]) -> None:
    stop = stopper(process)

    def handler(signum: int, _frame: FrameType | None) -> None:
        _Stopped.signal = signum
        stop(signum)

    for sig in stop_signals():
        signal.signal(sig, handler)


def _dependencies_ok(root: Root, data: TaskData) -> bool:
    """Wait until the dependencies finish; False if one did not succeed.

    Schedulers hold dependent jobs back themselves; this check is the safety
    net for a job started early, and for schedulers without dependencies.
    """
    from hipercow_core.dependencies import Readiness, ended, readiness

    while (state := readiness(root, data.depends_on)) == Readiness.WAITING:
        time.sleep(DEPENDENCY_POLL_SECONDS)
    while state == Readiness.READY and not ended(root, data.after_any):
        time.sleep(DEPENDENCY_POLL_SECONDS)
    return state == Readiness.READY


def _pin(driver: str | None) -> None:
    """Keep a local task on the CPUs its daemon gave it, so concurrent tasks never share one."""
    cpus = parse_cpus(os.environ.get(LOCAL_CPUS_VARIABLE))
    if driver == "local" and cpus:
        from hipercow_core.processes import pin_to_cpus

        pin_to_cpus(cpus)


def run_task(root: Root, task_id: str, claim_for: str | None = None) -> int:
    """Run one task and return the runner's exit status: 0 exactly when it recorded success.

    Batch scripts decide whether their job succeeded from this status alone,
    so it is never 0 for a task whose outcome is anything but `success`.

    `claim_for` (a pool worker's id) makes the running marker the task's
    claim: written once, naming the worker; if it exists already the task
    is someone else's and the runner exits `EXIT_TAKEN` at once.
    """
    code = _run(root, task_id, claim_for)
    if code == EXIT_TAKEN:
        return code
    if file_status(root, task_id) == TaskStatus.SUCCESS:
        return 0
    return code or 1


def _run(root: Root, task_id: str, claim_for: str | None = None) -> int:
    from hipercow_core import __version__

    data = read_task_data(root, task_id)
    status = file_status(root, task_id)
    if status.is_terminal:
        return 0
    if status == TaskStatus.CREATED:
        # Its driver may start it before core records the submission; or someone
        # runs a task by hand that was never submitted: it has no directory yet.
        ensure_task_dir(root, [task_id])
    running = RunningMarker(_now(), node_name(), os.getpid(), __version__, worker=claim_for)
    if claim_for is not None and not claim_running(root, task_id, running):
        return EXIT_TAKEN
    if (data.depends_on or data.after_any) and not _dependencies_ok(root, data):
        _record(
            root,
            task_id,
            FinishedMarker(TaskStatus.FAILURE, _now(), reason=outcomes.DEPENDENCY_FAILED),
        )
        return 1
    try:
        log = _open_log(root, task_id)
    except UnsafePathError as e:
        _finish(root, task_id, 1, "the task log is a symbolic link, which hipercow does not follow")
        raise e
    submitted = read_submitted(root, task_id)
    driver = submitted.driver if submitted else data.driver
    contain_own_tree()
    _pin(driver)
    if claim_for is None:
        running = RunningMarker(_now(), node_name(), os.getpid(), __version__)
        mark_running(root, task_id, running)
    cwd = root.project / data.path
    try:
        return _run_logged(root, data, cwd, log, running, driver)
    finally:
        os.close(log)


def _run_logged(
    root: Root, data: TaskData, cwd: Path, log: int, running: RunningMarker, driver: str | None
) -> int:
    task_id = data.id
    try:
        secrets = _secrets(data)
    except SecretError as e:  # no key here, someone else's, or one others can read
        _write_error(log, e)
        _finish(root, task_id, 1, outcomes.SECRETS)
        return 1
    try:
        process = _start(root, data, cwd, task_environment(root, data, secrets, driver))
    except HipercowError as e:  # the task's environment cannot be entered here
        _write_error(log, e)
        _finish(root, task_id, 1, outcomes.ENVIRONMENT)
        return 1
    except (FileNotFoundError, PermissionError, NotADirectoryError) as e:
        code, reason = _cannot_start(data, cwd, e)
        _write_all(log, f"hipercow: {reason}: {e}\n".encode())
        _finish(root, task_id, code, reason)
        return code
    assert process.stdout is not None
    limit = data.max_log_size or DEFAULT_MAX_LOG_SIZE
    truncated = root.task_dir(task_id) / LOG_TRUNCATED
    pump = LogPump(process.stdout.fileno(), log, limit, truncated, secrets.values())
    pump.start()
    _forward_signals(process)
    from hipercow_core.usage import UsageMeter

    meter = UsageMeter(process.pid, granted_cores(data.resources, driver, os.environ))
    code = _wait(root, data.id, process, running)
    usage = meter.stop()
    pump.finish()
    if code in _STOP_CODES:
        _await_own_stop_signal()
    if _Stopped.signal is not None:
        # Stopped from outside (a time limit, a cancel, or a requeue after which the job
        # runs again): whatever the task made of the signal is not its outcome.
        return 128 + _Stopped.signal
    outcome = f"killed by signal {-code}" if code < 0 else None
    if code == 0 and data.kind != "shell" and not _has_result(root, task_id):
        _write_all(log, f"hipercow: the Python task {NO_RESULT}\n".encode())
        outcome = NO_RESULT
    _finish(root, task_id, code, outcome, usage)
    return code if outcome is None else (code or 1)


#: A task killed by one of these was most likely stopped with its whole job.
_STOP_CODES = frozenset({-signal.SIGTERM, -signal.SIGINT})
#: How long a runner whose task died of a stop signal waits for its own.
STOP_SIGNAL_GRACE = 1.0


def _await_own_stop_signal() -> None:
    """Give a scheduler's stop signal a moment to reach the runner too.

    Schedulers signal every process of a job at once, so the task may die
    (and be reaped) an instant before the runner's own signal is handled;
    recording that as the task's failure would beat the cancel or time limit
    that really ended it.
    """
    deadline = time.monotonic() + STOP_SIGNAL_GRACE
    while _Stopped.signal is None and time.monotonic() < deadline:
        time.sleep(0.02)


def _write_error(log: int, error: HipercowError) -> None:
    hint = f"hipercow: {error.hint}\n" if error.hint else ""
    _write_all(log, f"hipercow: {error.message}\n{hint}".encode())


def _cannot_start(data: TaskData, cwd: Path, error: OSError) -> tuple[int, str]:
    if not cwd.is_dir():
        return 1, f"working directory '{data.path}' does not exist"
    if isinstance(error, PermissionError):
        return 126, f"command '{data.command[0]}' is not executable"
    return 127, f"command '{data.command[0]}' not found"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    root_path: str | None = None
    claim_for: str | None = None
    if len(args) >= 3 and args[0] == "--root":
        root_path, args = args[1], args[2:]
    if len(args) == 3 and args[0] == "--claim-for":
        claim_for, args = args[1], args[2:]
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        root = Root.find(Path(root_path)) if root_path else Root.find()
        return run_task(root, args[0], claim_for)
    except OutcomeNotRecordedError as e:
        # Unbuffered and best effort: this stderr is the task log, on the disk that is full.
        with contextlib.suppress(OSError):
            os.write(2, f"hipercow-task-run: could not record the outcome: {e}\n".encode())
        return EXIT_UNRECORDED
    except HipercowError as e:
        print(f"hipercow-task-run: {e.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
