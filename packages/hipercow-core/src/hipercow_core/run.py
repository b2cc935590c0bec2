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

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from hipercow_core import outcomes
from hipercow_core.cores import (
    LOCAL_CPUS_VARIABLE,
    core_variables,
    granted_cores,
    parse_cpus,
)
from hipercow_core.errors import HipercowError, SecretError
from hipercow_core.root import Root
from hipercow_core.schema import FinishedMarker, RunningMarker, TaskData, TaskStatus, Usage
from hipercow_core.store import (
    file_status,
    log_path,
    mark_finished,
    mark_running,
    read_submitted,
    read_task_data,
)

USAGE = "usage: hipercow-task-run [--root PATH] TASK_ID"
DEPENDENCY_POLL_SECONDS = 2.0


class _Stopped:
    """Set when the runner receives SIGTERM/SIGINT, so the outcome is left to its stopper."""

    signal: int | None = None


def task_environment(
    root: Root,
    data: TaskData,
    secrets: dict[str, str] | None = None,
    driver: str | None = None,
) -> dict[str, str]:
    """The process environment of a task: ours, entered into its environment, plus its variables.

    Its cores' variables (`HIPERCOW_CORES`, `OMP_NUM_THREADS`, ...) come
    before its own `--env`, which always wins. `driver` is the one it was
    submitted to (default: the one it was made for), whose grant of cores
    is believed. Raises a HipercowError when the task's environment cannot
    be entered here (deleted, or never built for this platform).
    """
    env = dict(os.environ)
    if data.environment is not None:
        from hipercow_core.environments import activate

        env = activate(root, data.environment, env)
    cores = granted_cores(data.resources, driver or data.driver, os.environ)
    env.update(core_variables(data.resources, cores))
    env.update(data.envvars)
    env.update(secrets or {})
    env["HIPERCOW_TASK_ID"] = data.id
    env["HIPERCOW_ROOT"] = str(root.project)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def node_name() -> str:
    """The scheduler's name for this node when it gives one (several may share a host)."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def _now() -> datetime:
    return datetime.now(UTC)


def _finish(
    root: Root, task_id: str, code: int, reason: str | None = None, usage: Usage | None = None
) -> None:
    status = TaskStatus.SUCCESS if code == 0 else TaskStatus.FAILURE
    marker = FinishedMarker(status, _now(), exit_code=code, reason=reason, usage=usage)
    mark_finished(root, task_id, marker)


def task_command(root: Root, data: TaskData) -> list[str]:
    """What to execute: a shell task's own command, or the Python executor for the others."""
    if data.kind == "shell":
        return list(data.command)
    from hipercow_core.interpreters import pyexec_command

    return pyexec_command(root, data.id, data.environment)


def _start(
    root: Root, data: TaskData, cwd: Path, env: dict[str, str], log: int | None
) -> subprocess.Popen[bytes]:
    """Start the task writing to the log, or to a pipe (log None) that the runner masks."""
    return subprocess.Popen(
        task_command(root, data),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if log is None else log,
        stderr=subprocess.STDOUT,
    )


def _secrets(data: TaskData) -> dict[str, str]:
    """The task's secret values, opened with this user's private key (raises SecretError)."""
    if data.secrets is None:
        return {}
    from hipercow_core.secret_keys import unseal

    return unseal(data.secrets)


def _wait(process: subprocess.Popen[bytes], log: int, secrets: dict[str, str]) -> int:
    """Wait for the task, copying its output into the log with secrets masked if it has any."""
    if process.stdout is not None:
        from hipercow_core.redact import copy_redacted

        with process.stdout:
            copy_redacted(process.stdout.fileno(), log, secrets.values())
    return process.wait()


def _forward_signals(process: subprocess.Popen[bytes]) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        _Stopped.signal = signum
        process.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def _pin(driver: str | None) -> None:
    """Keep a local task on the CPUs its daemon gave it, so concurrent tasks never share one."""
    cpus = parse_cpus(os.environ.get(LOCAL_CPUS_VARIABLE))
    if driver == "local" and cpus:
        from hipercow_core.processes import pin_to_cpus

        pin_to_cpus(cpus)


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


def run_task(root: Root, task_id: str) -> int:
    """Run one task and return the runner's exit status: 0 exactly when it recorded success.

    Batch scripts decide whether their job succeeded from this status alone,
    so it is never 0 for a task whose outcome is anything but `success`.
    """
    code = _run(root, task_id)
    if file_status(root, task_id) == TaskStatus.SUCCESS:
        return 0
    return code or 1


def _run(root: Root, task_id: str) -> int:
    data = read_task_data(root, task_id)
    if file_status(root, task_id).is_terminal:
        return 0
    if (data.depends_on or data.after_any) and not _dependencies_ok(root, data):
        mark_finished(
            root,
            task_id,
            FinishedMarker(TaskStatus.FAILURE, _now(), reason=outcomes.DEPENDENCY_FAILED),
        )
        return 1
    submitted = read_submitted(root, task_id)
    driver = submitted.driver if submitted else data.driver
    _pin(driver)
    from hipercow_core import __version__

    mark_running(root, task_id, RunningMarker(_now(), node_name(), os.getpid(), __version__))
    cwd = root.project / data.path
    with open(log_path(root, task_id), "ab", buffering=0) as log:
        try:
            secrets = _secrets(data)
        except SecretError as e:  # no key here, someone else's, or one others can read
            _write_error(log, e)
            _finish(root, task_id, 1, outcomes.SECRETS)
            return 1
        try:
            env = task_environment(root, data, secrets, driver)
            process = _start(root, data, cwd, env, None if secrets else log.fileno())
        except HipercowError as e:  # the task's environment cannot be entered here
            _write_error(log, e)
            _finish(root, task_id, 1, outcomes.ENVIRONMENT)
            return 1
        except (FileNotFoundError, PermissionError, NotADirectoryError) as e:
            code, reason = _cannot_start(data, cwd, e)
            log.write(f"hipercow: {reason}: {e}\n".encode())
            _finish(root, task_id, code, reason)
            return code
        _forward_signals(process)
        from hipercow_core.usage import UsageMeter

        meter = UsageMeter(process.pid, granted_cores(data.resources, driver, os.environ))
        code = _wait(process, log.fileno(), secrets)
        usage = meter.stop()
    if code in _STOP_CODES:
        _await_own_stop_signal()
    if _Stopped.signal is not None:
        # Stopped from outside (a time limit, a cancel, or a requeue after which the job
        # runs again): whatever the task made of the signal is not its outcome.
        return 128 + _Stopped.signal
    _finish(root, task_id, code, f"killed by signal {-code}" if code < 0 else None, usage)
    return code


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


def _write_error(log: BinaryIO, error: HipercowError) -> None:
    hint = f"hipercow: {error.hint}\n" if error.hint else ""
    log.write(f"hipercow: {error.message}\n{hint}".encode())


def _cannot_start(data: TaskData, cwd: Path, error: OSError) -> tuple[int, str]:
    if not cwd.is_dir():
        return 1, f"working directory '{data.path}' does not exist"
    if isinstance(error, PermissionError):
        return 126, f"command '{data.command[0]}' is not executable"
    return 127, f"command '{data.command[0]}' not found"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    root_path: str | None = None
    if len(args) == 3 and args[0] == "--root":
        root_path, args = args[1], args[2:]
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        root = Root.find(Path(root_path)) if root_path else Root.find()
        return run_task(root, args[0])
    except HipercowError as e:
        print(f"hipercow-task-run: {e.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
