"""Atomic file writes for a root that lives on a network share.

Readers on other machines must never see half a file: every write goes to a
temporary name in the same directory and is then renamed into place. Markers
that must be written once (a task's terminal status) use a hard link, which,
unlike rename, refuses to replace an existing file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import msgspec

from hipercow_core.errors import CorruptFileError, StorageError, UnsafePathError
from hipercow_core.processes import IS_WINDOWS, OPEN_FLAGS

_TMP_PREFIX = ".tmp-"
T = TypeVar("T")

# What the disk says when it will take no more, or nothing at all.
_STORAGE_ERRNOS = {
    errno.ENOSPC: ("the disk is full", "Free some space (e.g. 'hipercow purge'), then try again."),
    errno.EDQUOT: ("the disk quota is exceeded", "Free some space, then try again."),
    errno.EROFS: (
        "the disk is read-only",
        "Run this from a machine where the project is writable.",
    ),
    errno.EACCES: ("permission denied", "Check who owns the directory and its permissions."),
    errno.EPERM: ("permission denied", "Check who owns the directory and its permissions."),
}


#: A failed hard link that means the disk refuses writes, not that links are unsupported.
_DISK_REFUSALS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def storage_error(error: OSError, path: object = None) -> StorageError | None:
    """The disk's refusal as a two-line error naming the path, or None for other failures."""
    known = _STORAGE_ERRNOS.get(error.errno or 0)
    if known is None:
        return None
    where = path if path is not None else (error.filename or "?")
    return StorageError(f"cannot write '{where}': {known[0]}", known[1])


@contextlib.contextmanager
def writing(path: object) -> Iterator[None]:
    """Turn a full, read-only or forbidden disk into a StorageError naming `path`."""
    try:
        yield
    except OSError as e:
        translated = storage_error(e, path)
        if translated is None:
            raise
        raise translated from e


#: How long Windows sharing violations are waited out: a reader, an indexer or a
#: virus scanner holding a file open blocks replacing or deleting it for a moment.
SHARING_RETRY_SECONDS = 5.0


def _sharing_violation(error: OSError) -> bool:
    """Access denied (5) or in use by another process (32): Windows only, and passing."""
    return IS_WINDOWS and getattr(error, "winerror", None) in (5, 32)


def retry_sharing(operation: Callable[[], T]) -> T:
    """Run `operation`, waiting out Windows sharing violations for a few seconds."""
    deadline = time.monotonic() + SHARING_RETRY_SECONDS
    delay = 0.01
    while True:
        try:
            return operation()
        except PermissionError as e:
            if not _sharing_violation(e) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def remove_tree(path: Path | str) -> None:
    """Delete a directory and everything in it; raises OSError if anything is left.

    `rmtree(ignore_errors=True)` would leave files another process holds open
    on Windows without a word; here they are waited for, then reported.
    """
    if not os.path.exists(path):
        return
    retry_sharing(lambda: shutil.rmtree(path))


def _write_temp(path: Path, data: bytes) -> Path:
    """Write `data` under a temporary name beside `path`; nothing is left behind on failure."""
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    with writing(path):
        try:
            with tmp.open("wb") as f:
                f.write(data)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    return tmp


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a mix."""
    tmp = _write_temp(path, data)
    try:
        with writing(path):
            retry_sharing(lambda: os.replace(tmp, path))
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_many(files: Iterable[tuple[str, bytes]]) -> None:
    """`atomic_write` for a batch (1,000 submitted markers), in plain `os` calls.

    Each file is still written under a temporary name and renamed over, so a
    reader sees the old or the new file; only the per-file cost is less.
    """
    suffix = f".{os.getpid()}.{os.urandom(4).hex()}"
    for path, data in files:
        directory, name = os.path.split(path)
        tmp = os.path.join(directory, f"{_TMP_PREFIX}{name}{suffix}")
        with writing(path):
            fd = os.open(tmp, _NEW_TEMP, 0o666)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            try:
                retry_sharing(lambda: os.replace(tmp, path))  # noqa: B023 (called at once)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


_NEW_TEMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | OPEN_FLAGS


def write_once(path: Path, data: bytes) -> bool:
    """Create `path` with `data` unless it exists; True if this call created it.

    Two parties (a runner finishing, a user cancelling) may race to write the
    terminal marker; exactly one wins and the other learns it lost.
    """
    tmp = _write_temp(path, data)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as e:
            full = storage_error(e, path) if e.errno in _DISK_REFUSALS else None
            if full is not None:
                raise full from e
            # Not a full disk: links are refused here (EPERM on FAT and some shares).
            # Filesystems without hard links: rename refuses to replace on
            # Windows; elsewhere check first, which is the best available.
            if not IS_WINDOWS and path.exists():
                return False
            with writing(path):
                try:
                    os.rename(tmp, path)
                except FileExistsError:
                    return False
            return True
        return True
    finally:
        with contextlib.suppress(OSError):
            retry_sharing(tmp.unlink)


def read_bytes(path: Path | str) -> bytes | None:
    """The file's contents, or None when it does not exist (yet)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def decode(path: Path | str, raw: bytes, decoder: msgspec.json.Decoder[T], what: str) -> T:
    """Decode a record read from `path`; garbage becomes an error naming the file.

    `what` says what the file is and what to do about it, e.g. "the task's
    data" and the command that removes or replaces it.
    """
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise CorruptFileError(
            str(path), f"'{path}' is unreadable ({_reason(raw, e)})", what
        ) from None


def decode_as(path: Path | str, raw: bytes, type_: type[T], what: str) -> T:
    """`decode` with a one-off decoder of `type_`."""
    return decode(path, raw, msgspec.json.Decoder(type_), what)


def _reason(raw: bytes, error: Exception) -> str:
    if not raw.strip():
        return "empty"
    return str(error).split("\n")[0][:120] or type(error).__name__


def no_links(base: Path | str, path: Path | str) -> None:
    """Refuse `path` if it, or any directory between `base` and it, is a symbolic link.

    Paths inside the root are built from names hipercow chose; a link planted
    there would send a delete or a write outside the root.
    """
    base_text = os.path.normpath(base)
    current = os.path.normpath(path)
    while current != base_text and len(current) > len(base_text):
        if os.path.islink(current):
            raise UnsafePathError(
                f"'{current}' is a symbolic link inside the root, which hipercow does not follow",
                "Remove the link (hipercow keeps its files under hipercow/ itself), then try again.",
            )
        current = os.path.dirname(current)
