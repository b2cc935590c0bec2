"""The lock behind one local daemon per root and one build per environment.

Each test holds the lock in a second process, as the daemon or a build does,
so the lock is tested between processes (within one process it is reentrant).
Windows runs this file too (tests/windows/test_native_suites.py), which
exercises the msvcrt branch for real.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hipercow_core.file_locks import FileLock, LockTimeoutError

HOLDER = (
    "import sys\n"
    "from hipercow_core.file_locks import FileLock\n"
    "lock = FileLock(sys.argv[1])\n"
    "lock.acquire(timeout=10)\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
    "lock.release()\n"
    "print('released', flush=True)\n"
)


PROBE = (
    "import sys\n"
    "from hipercow_core.file_locks import FileLock, LockTimeoutError\n"
    "try:\n"
    "    FileLock(sys.argv[1]).acquire(timeout=0)\n"
    "except LockTimeoutError:\n"
    "    print('refused')\n"
)


def script(tmp_path: Path, name: str, text: str) -> str:
    """A script file for a second interpreter, rather than `-c` code of several lines.

    Under Wine, starting a child with such a command line once failed with
    WinError 1359 (ci10); a file keeps the command line one plain line.
    """
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process holding the lock on tmp_path/sub/lock until its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, script(tmp_path, "holder.py", HOLDER), str(tmp_path / "sub" / "lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def test_a_held_lock_is_refused_until_its_holder_lets_go(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    lock = FileLock(tmp_path / "sub" / "lock")
    with pytest.raises(LockTimeoutError) as refused:
        lock.acquire(timeout=0)
    assert str(tmp_path / "sub" / "lock") in str(refused.value)
    started = time.monotonic()
    with pytest.raises(LockTimeoutError):
        lock.acquire(timeout=0.3)
    assert time.monotonic() - started >= 0.3
    assert not lock.is_locked
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.close()
    assert holder.stdout.readline().strip() == "released"
    lock.acquire(timeout=5)
    assert lock.is_locked
    lock.release()
    assert not lock.is_locked


def test_a_waiting_acquire_takes_the_lock_once_it_is_let_go(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    lock = FileLock(tmp_path / "sub" / "lock")
    lock.acquire(timeout=10)
    assert lock.is_locked
    lock.release()


def test_the_lock_goes_with_a_holder_that_dies(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.kill()
    holder.wait(timeout=10)
    lock = FileLock(tmp_path / "sub" / "lock")
    lock.acquire(timeout=5)
    assert lock.is_locked
    lock.release()


def test_it_is_reentrant_and_held_until_released_as_often_as_taken(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "lock"
    with FileLock(path) as lock:
        lock.acquire(timeout=0)
        lock.release()
        assert lock.is_locked
        probe = subprocess.run(
            [sys.executable, script(tmp_path, "probe.py", PROBE), str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert probe.stdout.strip() == "refused"
    assert not lock.is_locked
    again = FileLock(path)
    again.acquire(timeout=0)
    again.release()
