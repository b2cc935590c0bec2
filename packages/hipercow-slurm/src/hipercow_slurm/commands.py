"""Running Slurm's client commands, and retrying the failures that pass.

slurmctld restarts, fails over, or is briefly too busy; its clients then say
"Socket timed out" or "Unable to contact slurm controller". Those failures
are retried with back-off inside a time budget shared by everything one
driver call does, so a user waits a bounded time for either an answer or a
clear error, never one budget per job. Slurm's clients already keep trying
for about MessageTimeout (10 s by default) before they give up, so few
attempts fit in a budget; that is intended.

Everything goes through `sh`, since this driver runs on POSIX only. `sh` is
imported when the first command runs, not with the driver: its import (asyncio
included) costs as much as writing a few hundred tasks, and commands that read
only the task files (a status of finished tasks, a listing) never need it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from hipercow_core.errors import DriverError, SchedulerUnavailableError
from hipercow_core.log import get_logger

if TYPE_CHECKING:
    import sh
else:
    sh = None  # set by _load_sh, before the first command runs

log = get_logger(__name__)


def _load_sh() -> None:
    """Import `sh` once, before the first command runs."""
    global sh
    if sh is None:
        import sh as module  # thread-safe: a second caller waits for the same module

        sh = module


#: Seconds one driver call may spend retrying before it reports the scheduler unreachable.
DEFAULT_BUDGET = 20.0
#: Seconds one sbatch may take: a loaded controller, or one behind a job_submit plugin,
#: takes seconds per job, and at MaxJobCount sbatch keeps retrying by itself.
SBATCH_TIMEOUT = 120.0
#: Seconds one command may take when the caller has no budget of its own.
DEFAULT_TIMEOUT = 60.0
FIRST_DELAY = 0.5
MAX_DELAY = 4.0
MIN_ATTEMPT = 5.0  # seconds: a Slurm client gives up on a down controller after ~10

# Lower-case fragments of Slurm client messages for failures that go away by themselves.
TRANSIENT_MESSAGES = (
    "socket timed out",
    "unable to contact slurm controller",
    "connect failure",
    "connection refused",
    "connection reset",
    "temporarily unable",
    "resource temporarily unavailable",
    "zero bytes were transmitted or received",
    "transport endpoint is not connected",
    "communication connection failure",
    "slurm_receive_msg",
    "controller not responding",
    "backup controller in standby mode",
    "try again",
)

# Lower-case fragments of sbatch's messages when the cluster holds as many jobs as it may
# (MaxJobCount): sbatch says so and keeps retrying by itself until it is killed.
QUEUE_FULL_MESSAGES = ("temporarily unable to accept job", "maxjobcount")
# ... and when a per-user or per-account limit on submitted jobs is reached.
SUBMIT_LIMIT_MESSAGES = (
    "maxsubmitjob",
    "maxsubmit",
    "job submit limit",
    "submitlimit",
)

#: The hint shown when the scheduler stays unreachable.
UNREACHABLE_HINT = "Check that the cluster is up ('sinfo' should answer) and try again in a moment."


class SlurmError(Exception):
    """One Slurm command that failed; `transient` if retrying may help."""

    def __init__(
        self,
        program: str,
        message: str,
        *,
        transient: bool,
        stdout: str = "",
        exit_code: int | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(f"{program}: {message}")
        self.program = program
        self.message = message
        self.transient = transient
        self.stdout = stdout
        self.exit_code = exit_code
        #: Killed at its timeout: the command may have taken effect (a submission).
        self.timed_out = timed_out

    @property
    def answer_lost(self) -> bool:
        """The request may have reached the controller and taken effect, its answer lost.

        A timeout (ours, or Slurm's "Socket timed out on send/recv") leaves that
        open; a refused connection ("connect failure") does not.
        """
        return self.timed_out or "timed out" in self.message.lower()

    @property
    def queue_full(self) -> bool:
        """The cluster holds as many jobs as it may (MaxJobCount)."""
        return is_queue_full(self.message)

    @property
    def submit_limit(self) -> bool:
        """A QOS or association limit on submitted jobs (MaxSubmitJobs) was reached."""
        return is_submit_limit(self.message)


class Output(NamedTuple):
    """What a command printed; some (scancel) report per-job errors on stderr with exit code 0."""

    stdout: str
    stderr: str


class Budget:
    """A deadline shared by all the attempts of one driver call."""

    def __init__(self, seconds: float = DEFAULT_BUDGET) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.deadline = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def is_transient(message: str) -> bool:
    text = message.lower()
    if is_submit_limit(message) or is_queue_full(message):
        # Only fewer jobs help (and sbatch already retried a full queue by itself).
        return False
    return any(fragment in text for fragment in TRANSIENT_MESSAGES)


def is_queue_full(message: str) -> bool:
    text = message.lower()
    return any(fragment in text for fragment in QUEUE_FULL_MESSAGES)


def is_submit_limit(message: str) -> bool:
    text = message.lower().replace(" ", "")
    return any(fragment.replace(" ", "") in text for fragment in SUBMIT_LIMIT_MESSAGES)


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


def run(
    program: str,
    args: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> Output:
    """Run a Slurm command once (in `env`, else this process's); what it printed, or SlurmError.

    The command is looked up on PATH at every call, so a wrapper put first on
    PATH (site scripts, tests that count calls) is honoured.
    """
    _load_sh()
    try:
        command = sh.Command(program)
    except sh.CommandNotFound:
        raise DriverError(
            f"Slurm's '{program}' command was not found on this machine",
            "Run hipercow on a machine that can submit to the cluster (a login node), "
            "or add Slurm's bin directory to PATH.",
        ) from None
    started = time.monotonic()
    # stderr is gathered as it comes, so that a command killed at its timeout still
    # tells what it said (sbatch at MaxJobCount prints why it waits, then waits).
    said: list[str] = []
    try:
        done = _finished_within(
            command,
            args,
            max(timeout, 0.1),
            _tty_out=False,
            _env=dict(env) if env is not None else None,
            _err=lambda chunk: said.append(_text(chunk)),
        )
    except _ExpiredError:
        stderr = "".join(said).strip()
        last = f"; it said: {stderr.splitlines()[-1]}" if stderr else ""
        raise SlurmError(
            program,
            f"no answer within {timeout:.0f}s (Socket timed out){last}",
            transient=True,
            timed_out=True,
        ) from None
    except sh.ErrorReturnCode as e:
        stderr = "".join(said).strip()
        message = stderr or f"exited with code {e.exit_code}"
        raise SlurmError(
            program,
            message,
            transient=is_transient(message),
            stdout=_text(e.stdout),
            exit_code=e.exit_code,
        ) from None
    log.debug("slurm command", program=program, args=len(args), seconds=time.monotonic() - started)
    return Output(_text(done.stdout), "".join(said))


class _ExpiredError(Exception):
    """The command was killed at its timeout."""


def _finished_within(
    command: sh.Command, args: Sequence[str], timeout: float, **options: Any
) -> sh.RunningCommand:
    """Run `command` to its end, killing it after `timeout` seconds.

    sh's own `_timeout` watches the clock in a thread that wakes every 0.1 s
    and is joined at the end, which added about 0.1 s to every Slurm call
    (sbatch itself takes 15 ms); a timer that kills the process costs nothing
    until it fires.
    """
    running: sh.RunningCommand = command(
        *args, _bg=True, _bg_exc=False, _return_cmd=True, **options
    )
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        with contextlib.suppress(OSError):
            running.kill()

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        running.wait()
    except sh.ErrorReturnCode:
        if expired.is_set():
            raise _ExpiredError from None
        raise
    finally:
        timer.cancel()
    if expired.is_set():
        raise _ExpiredError
    return running


def run_retrying(
    program: str,
    args: Sequence[str],
    *,
    budget: Budget,
    recover: Callable[[], Output | None] | None = None,
    attempt_timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Output:
    """Run a command, retrying transient failures with back-off until the budget is spent.

    The first attempt may take `attempt_timeout` seconds (default: the
    budget), so a slow but working controller is not cut short; retries
    get at most what is left of the budget, so a controller that is down
    costs the budget and not a multiple of it. `recover` is asked after an
    attempt that timed out whether it had in fact taken effect (a
    submission whose answer was lost), even when the budget is spent, and
    its answer, if any, is returned instead of running the command again;
    a refused connection took no effect, so it is not asked then. A
    permanent failure is raised at once; a transient one that outlasts the
    budget becomes a DriverError saying the scheduler cannot be reached,
    whose message keeps what Slurm last said.
    """
    delay = FIRST_DELAY
    attempts = 0
    while True:
        attempts += 1
        first = attempt_timeout if attempt_timeout is not None else budget.remaining()
        timeout = first if attempts == 1 else min(first, budget.remaining())
        try:
            return run(program, args, timeout=max(timeout, 1.0), env=env)
        except SlurmError as e:
            if not e.transient:
                raise
            last = e
        log.info("slurm command failed, will retry", program=program, error=last.message)
        if recover is not None and last.answer_lost:
            try:
                recovered = recover()
            except SlurmError:
                recovered = None
            if recovered is not None:
                return recovered
        # An attempt with only a moment left would be cut off by our own timeout, which
        # says less than Slurm's last words and makes a lost answer to look for.
        if budget.remaining() <= delay + min(MIN_ATTEMPT, budget.seconds / 4):
            if last.queue_full:  # sbatch waited on a full queue until its timeout
                raise SlurmError(program, last.message, transient=False, timed_out=True)
            raise unreachable(last, attempts, budget)
        time.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)


def unreachable(error: SlurmError, attempts: int, budget: Budget) -> DriverError:
    """The error a user sees when Slurm stayed unreachable for the whole budget."""
    detail = error.message.strip().splitlines()[-1] if error.message.strip() else "no answer"
    detail = detail.removeprefix(f"{error.program}: error: ")
    tries = "once" if attempts == 1 else f"{attempts} times"
    return SchedulerUnavailableError(
        f"cannot reach the Slurm controller: '{error.program}' failed {tries} "
        f"in {budget.elapsed():.0f}s ({detail})",
        UNREACHABLE_HINT,
    )
