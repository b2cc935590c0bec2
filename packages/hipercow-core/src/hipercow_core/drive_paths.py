r"""Resolving paths without losing a mapped network drive's letter.

On Windows `Path.resolve()` follows a mapped drive to its UNC path
(`V:\proj` becomes `\\server\share\proj`). cmd.exe cannot use a UNC path as
its working directory, and a root recorded that way no longer names the
drive that the cluster's nodes map. So where resolving turns a drive path
into a UNC one, the drive form is kept, made absolute and normalised.
"""

from __future__ import annotations

import ntpath
import os
from pathlib import Path

from hipercow_core.processes import IS_WINDOWS


def keep_drive(absolute: str, resolved: str) -> str:
    r"""`resolved`, unless it is a UNC path for a drive-letter `absolute` (Windows forms)."""
    drive = ntpath.splitdrive(absolute)[0]
    if resolved.startswith("\\\\") and len(drive) == 2 and drive[1] == ":":
        return ntpath.normpath(absolute)
    return resolved


def resolve(path: Path) -> Path:
    """`path.resolve()`, except that on Windows a mapped drive keeps its letter."""
    resolved = path.resolve()
    if not IS_WINDOWS:
        return resolved
    return Path(keep_drive(os.path.abspath(path), str(resolved)))
