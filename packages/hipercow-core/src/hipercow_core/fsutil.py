"""Atomic file writes for a root that lives on a network share.

Readers on other machines must never see half a file: every write goes to a
temporary name in the same directory and is then renamed into place. Markers
that must be written once (a task's terminal status) use a hard link, which,
unlike rename, refuses to replace an existing file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_TMP_PREFIX = ".tmp-"


def _write_temp(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    with tmp.open("wb") as f:
        f.write(data)
    return tmp


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a mix."""
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
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
            if path.exists():
                return False
            os.rename(tmp, path)
            return True
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_bytes(path: Path | str) -> bytes | None:
    """The file's contents, or None when it does not exist (yet)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
