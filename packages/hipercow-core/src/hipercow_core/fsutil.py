"""Atomic file writes for a root that lives on a network share.

Readers on other machines must never see half a file: every write goes to a
temporary name in the same directory and is then renamed into place. Markers
that must be written once (a task's terminal status) use a hard link, which,
unlike rename, refuses to replace an existing file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hipercow_core.processes import IS_WINDOWS

_TMP_PREFIX = ".tmp-"
#: How long Windows sharing violations are waited out: a reader, an indexer or a
#: virus scanner holding a file open blocks replacing or deleting it for a moment.
SHARING_RETRY_SECONDS = 5.0
_T = TypeVar("_T")


def _sharing_violation(error: OSError) -> bool:
    """Access denied (5) or in use by another process (32): Windows only, and passing."""
    return IS_WINDOWS and getattr(error, "winerror", None) in (5, 32)


def retry_sharing(operation: Callable[[], _T]) -> _T:
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
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    with tmp.open("wb") as f:
        f.write(data)
    return tmp


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a mix."""
    tmp = _write_temp(path, data)
    try:
        retry_sharing(lambda: os.replace(tmp, path))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
        except OSError:
            # Filesystems without hard links: rename refuses to replace on
            # Windows; elsewhere check first, which is the best available.
            if not IS_WINDOWS and path.exists():
                return False
            try:
                os.rename(tmp, path)
            except FileExistsError:
                return False
            return True
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            retry_sharing(tmp.unlink)


def read_bytes(path: Path | str) -> bytes | None:
    """The file's contents, or None when it does not exist (yet)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
