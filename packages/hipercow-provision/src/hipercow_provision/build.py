"""Carrying out one attempt: make or reuse the prefix, install, list what it holds, record it all.

This runs where the environment is built: inside the provisioning job on a
node, or in the standalone `hipercow-provision run`. Every command and its
output go to the attempt's log (and, live, to our own stdout, which in a job
is the task log the user is following). Whatever happens (success, a failed
install, a missing tool, SIGTERM from a cancel or a time limit), a result is
written with the complete package list of the prefix as it was left, so a
failed or cancelled attempt is recorded too and never mistaken for a success.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from hipercow_core.environments import BuildLayout, Engine, build_key
from hipercow_core.errors import HipercowError
from hipercow_core.log import get_logger
from hipercow_core.schema import AttemptStatus, PackageInfo, ProvisionAttempt, ProvisionResult
from hipercow_provision.history import HistoryStore
from hipercow_provision.inputs import describe, plural

log = get_logger(__name__)

_PROBE = (
    "import sys, platform; "
    "print(sys.platform, platform.machine() or 'unknown', '.'.join(map(str, sys.version_info[:3])))"
)
# Variables that would point a build's tools at some other environment.
_DROPPED_VARIABLES = ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME", "PYTHONPATH")


_TAIL_BYTES = 4096


def _reason(output: bytes) -> str | None:
    """What a failed command's output says about why: its last error line and the cause after it.

    uv gives the cause on the next line (`cause: Because x was not found...`),
    pip on the error line itself; else the output's last line.
    """
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    if not lines:
        return None
    errors = [i for i, line in enumerate(lines) if "error" in line.lower()]
    index = errors[-1] if errors else len(lines) - 1
    chosen = lines[index]
    following = lines[index + 1] if index + 1 < len(lines) else ""
    for mark in ("cause:", "╰─▶"):
        if following.startswith(mark):
            chosen = f"{chosen.rstrip(':')}: {following.removeprefix(mark).strip()}"
    return chosen if len(chosen) <= 400 else chosen[:397] + "..."


class CommandFailedError(HipercowError):
    """A build command exited non-zero or could not start.

    `headline` is the message without the quoted reason: the log already holds
    the command's own words, so its closing line need not say them again.
    """

    def __init__(self, message: str, hint: str | None = None, *, headline: str | None = None):
        super().__init__(message, hint)
        self.headline = headline or message


class Cancelled(BaseException):
    """SIGTERM or SIGINT arrived: the build stops and records itself as cancelled."""


class Session:
    """The `BuildContext` an engine works through: commands logged, recorded, stoppable."""

    def __init__(
        self, log_file: BinaryIO, echo: BinaryIO | None, *, exits_without_shutdown: bool = False
    ) -> None:
        self._log = log_file
        self._echo = echo
        self.exits_without_shutdown = exits_without_shutdown
        self.commands: list[tuple[str, ...]] = []
        self._process: subprocess.Popen[bytes] | None = None

    def write(self, data: bytes) -> None:
        self._log.write(data)
        self._log.flush()
        if self._echo is not None:
            with contextlib.suppress(OSError, ValueError):
                self._echo.write(data)
                self._echo.flush()

    def say(self, text: str) -> None:
        self.write(f"hipercow-provision: {text}\n".encode())

    def _environment(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_VARIABLES}
        env.update(extra or {})
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        capture: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> str:
        words = [str(a) for a in argv]
        if not capture:
            self.commands.append(tuple(words))
            self.write(f"$ {shlex.join(words)}\n".encode())
        log.debug("running", argv=words)
        try:
            process = subprocess.Popen(
                words,
                cwd=cwd,
                env=self._environment(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if capture else subprocess.STDOUT,
            )
        except OSError as e:
            raise CommandFailedError(f"cannot run '{words[0]}': {e}") from None
        self._process = process
        try:
            if capture:
                out, err = process.communicate()
                if err and process.returncode != 0:
                    self.write(err)
            else:
                assert process.stdout is not None
                tail = b""
                while chunk := os.read(process.stdout.fileno(), 65536):
                    self.write(chunk)
                    tail = (tail + chunk)[-_TAIL_BYTES:]
                out = tail
                process.wait()
        finally:
            self._process = None
        if process.returncode != 0:
            name = Path(words[0]).name
            shown = " ".join([name, *words[1:3]])
            reason = _reason(out if not capture else b"")
            headline = f"'{shown}' failed with exit code {process.returncode}"
            raise CommandFailedError(
                headline + (f": {reason}" if reason else ""),
                "Its output is in the attempt's log.",
                headline=headline + (" (its output is above)" if reason else ""),
            )
        return "" if not capture else out.decode(errors="replace")

    def stop(self) -> None:
        """Ask the command in progress to stop (on cancel), without waiting for it.

        A cancel leaves little time before the scheduler's SIGKILL (two
        seconds on the local driver, Slurm's KillWait): it goes to recording
        the outcome, not to waiting for the engine's tool.
        """
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                process.terminate()


@contextlib.contextmanager
def _cancellable(session: Session) -> Iterator[None]:
    """Turn SIGTERM/SIGINT into `Cancelled` while building (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        session.stop()
        raise Cancelled(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Ignore further SIGTERM/SIGINT while the outcome is being written down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Built:
    """What a successful attempt leaves for its caller: the build's key, prefix and layout."""

    def __init__(self, key: str, prefix: Path, layout: BuildLayout, platform_name: str) -> None:
        self.key = key
        self.prefix = prefix
        self.layout = layout
        self.platform = platform_name


def _probe(python: str, session: Session) -> tuple[str, str]:
    """The platform tag and full Python version of an interpreter.

    The interpreter running this is known without starting it again (the
    conda engine's builds always use it).
    """
    import sys

    from hipercow_core.environments import platform_tag

    if python == sys.executable:
        return platform_tag(), ".".join(map(str, sys.version_info[:3]))
    system, machine, version = session.run([python, "-I", "-c", _PROBE], capture=True).split()
    return platform_tag(system, machine), version


def _foreign(prefix: Path, engine: Engine, platform_name: str) -> bool:
    """A non-empty directory that this engine did not build: never ours to change or remove."""
    return (
        prefix.is_dir() and any(prefix.iterdir()) and not engine.is_built(prefix, platform_name)
    ) or (prefix.exists() and not prefix.is_dir())


def _prepare(
    prefix: Path, engine: Engine, platform_name: str, fresh: bool, session: Session
) -> None:
    """Refuse a prefix holding something else; empty it first for a fresh build."""
    if _foreign(prefix, engine, platform_name):
        raise CommandFailedError(
            f"'{prefix}' exists but is not a {engine.name} environment, so it was left alone",
            "Choose another prefix, or remove it yourself.",
        )
    if fresh and prefix.exists():
        session.say(f"removing {prefix} for a fresh build")
        shutil.rmtree(prefix)


class _Progress:
    """What an attempt has learnt so far, for its result however it ends."""

    def __init__(self) -> None:
        self.platform: str | None = None
        self.version: str | None = None
        self.key: str | None = None
        self.prefix: Path | None = None


def _steps(
    attempt: ProvisionAttempt,
    engine: Engine,
    prefix_for: Callable[[str], Path],
    workdir: Path,
    session: Session,
    progress: _Progress,
) -> None:
    session.say(
        f"attempt {attempt.id}"
        + (f" of environment '{attempt.environment}'" if attempt.environment else "")
        + f", engine {engine.name}, on {socket.gethostname()}"
    )
    session.say(f"installing {attempt.inputs.kind}: {describe(attempt.inputs, 200)}")
    python = engine.find_python(attempt.python, session)
    progress.platform, progress.version = _probe(python, session)
    progress.key = build_key(progress.platform, progress.version)
    prefix = progress.prefix = prefix_for(progress.key)
    session.say(f"build {progress.key} (Python {progress.version} from {python}) in {prefix}")
    _prepare(prefix, engine, progress.platform, attempt.fresh, session)
    if not engine.is_built(prefix, progress.platform):
        prefix.parent.mkdir(parents=True, exist_ok=True)
        engine.create(prefix, python, session)
    engine.install(prefix, attempt.inputs, workdir, session)


def _packages(engine: Engine, progress: _Progress, session: Session) -> list[PackageInfo]:
    """The prefix's packages as the attempt left them, failed attempts included."""
    if progress.prefix is None or progress.platform is None:
        return []
    try:
        if engine.is_built(progress.prefix, progress.platform):
            return engine.packages(progress.prefix, progress.platform, session)
    except (HipercowError, OSError, ValueError) as e:
        session.say(f"could not list the packages: {e}")
    return []


def execute(
    store: HistoryStore,
    attempt: ProvisionAttempt,
    engine: Engine,
    prefix_for: Callable[[str], Path],
    *,
    echo: BinaryIO | None = None,
    exits_without_shutdown: bool = False,
) -> tuple[ProvisionResult, Built | None]:
    """Run an attempt whose request is recorded; returns the result it recorded.

    `prefix_for` turns the build key (platform and Python version, known only
    once the interpreter is found here) into the prefix to build in. The
    caller holds the history's lock. `exits_without_shutdown`: the caller's
    process ends with `os._exit` (see `BuildContext.exits_without_shutdown`).
    """
    started = datetime.now(UTC)
    status: AttemptStatus = "failure"
    error: str | None = None
    said: str | None = None  # the error as the log's closing line puts it
    progress = _Progress()
    with store.log_path(attempt.id).open("ab") as log_file:
        session = Session(log_file, echo, exits_without_shutdown=exits_without_shutdown)
        try:
            with _cancellable(session):
                _steps(
                    attempt, engine, prefix_for, store.attempt_dir(attempt.id), session, progress
                )
                status = "success"
        except Cancelled as e:
            status, error = "cancelled", f"cancelled ({e})"
        except CommandFailedError as e:
            error, said = e.message, e.headline
        except HipercowError as e:
            error = e.message
        except Exception as e:
            error = f"unexpected {type(e).__name__}: {e}"
            session.write(traceback.format_exc().encode())
        with _shielded():
            result = ProvisionResult(
                attempt=attempt.id,
                status=status,
                finished=datetime.now(UTC),
                started=started,
                host=socket.gethostname(),
                platform=progress.platform,
                python_version=progress.version,
                build=progress.key,
                commands=tuple(session.commands),
                packages=tuple(_packages(engine, progress, session)),
                error=error,
            )
            if not store.write_result(result):
                # Someone decided first (e.g. a reader saw the job gone); theirs stands.
                result = store.read_result(attempt.id) or result
            if result.status == "success":
                session.say(f"success: {plural(len(result.packages), 'package')} in {progress.key}")
            elif said is not None and result.error == error:
                session.say(f"{result.status}: {said}")
            else:
                session.say(f"{result.status}: {result.error}")
    built = None
    if result.status == "success" and progress.prefix and progress.key and progress.platform:
        layout = engine.layout(progress.platform, progress.prefix)
        built = Built(progress.key, progress.prefix, layout, progress.platform)
    return result, built
