"""An exclusive lock held on a file: one local daemon per root, one build per environment.

Written here rather than taken from `filelock`, whose import loads asyncio:
about 15 ms in each of the processes a task's start waits for in turn (the
command, the local daemon, a provisioning job). What hipercow needs is small:
take the lock or give up after a while, let it go, and have the system drop
it when the holder dies, which both branches below give.

- POSIX: `flock` on the open file; a lock taken on a file that a holder
  then deleted is taken again on the file now at that path.
- Windows: `msvcrt.locking` of the file's first byte.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from types import TracebackType

from hipercow_core.processes import IS_WINDOWS

#: Seconds between tries while a lock is held by another.
POLL_SECONDS = 0.05


class LockTimeoutError(TimeoutError):
    """The lock was still held by another when the time allowed ran out."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the lock {path} is held by another process")
        self.lock_file = path


class FileLock:
    """An exclusive, reentrant lock on `path` (the file is made if missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.lock_file = os.fspath(path)
        self._fd: int | None = None
        self._depth = 0

    @property
    def is_locked(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float = -1) -> None:
        """Take the lock, waiting up to `timeout` seconds (forever if negative; once if 0)."""
        if self._fd is not None:
            self._depth += 1
            return
        deadline = None if timeout < 0 else time.monotonic() + timeout
        Path(self.lock_file).parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = _try_lock(self.lock_file)
            if fd is not None:
                self._fd, self._depth = fd, 1
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeoutError(self.lock_file)
            time.sleep(POLL_SECONDS)

    def release(self) -> None:
        """Let the lock go once it was released as often as taken (a no-op if not held)."""
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth == 0:
            fd, self._fd = self._fd, None
            _unlock(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


def _open(path: str) -> int:
    with contextlib.suppress(PermissionError):  # someone else's file: open it as it is
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
    return os.open(path, os.O_RDWR)


if IS_WINDOWS:
    import msvcrt

    def _try_lock(path: str) -> int | None:
        """The open, locked file; None while another holds it."""
        try:
            fd = _open(path)
        except PermissionError:  # the holder has it open in a way that refuses ours
            return None
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
        except OSError:
            os.close(fd)
            return None
        return fd

    def _unlock(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined,unused-ignore]
        finally:
            os.close(fd)

else:
    import fcntl

    def _try_lock(path: str) -> int | None:
        """The open, locked file; None while another holds it."""
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if os.fstat(fd).st_nlink == 0:  # its holder removed it before letting go: not ours
            os.close(fd)
            return _try_lock(path)
        return fd

    def _unlock(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
