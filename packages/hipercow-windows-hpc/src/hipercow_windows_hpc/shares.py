"""The shares a job needs, each with its drive letter, and where a local path is on them.

A project on a network share is seen by the nodes through that share: on a
Windows node as a drive letter (the batch file maps every share with
`net use`), on a Linux node under a mount point (see `paths`). Shares come
from two places: those given in the driver's `shares` option, written

    shares=LOCAL=//server/share[:X],LOCAL2=//server2/share2[:Y]

(e.g. `shares=/home/bob/net/home=//qdrive/homes/bob:Q`; on Windows the
local side is the mapped drive, `Q:=//qdrive/homes/bob`), and those
detected from the machine's mounts (`mounts`). A share given explicitly
wins over a detected one with the same local path or remote. Each share gets
its own drive letter: the one given, the one it has locally on Windows, a
conventional one for well-known shares, else the next free letter. Two shares
may never share a letter.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from hipercow_windows_hpc.errors import ShareError
from hipercow_windows_hpc.mounts import Mount
from hipercow_windows_hpc.paths import LinuxMount, Unc, drive_path, linux_path

_ENTRY = re.compile(
    r"^(?P<local>.+?)=(?P<remote>(?://|\\\\).+?)(?::(?P<drive>[A-Za-z]):?)?$",
)
_LOCAL_DRIVE = re.compile(r"^[A-Za-z]:[\\/]?$")

#: Conventional drive letters for well-known shares, used when none is given.
DEFAULT_DRIVES: tuple[tuple[Unc, str], ...] = ((Unc.parse("//qdrive/homes"), "Q:"),)

#: Letters handed out in turn to shares without one. A-C are the nodes' own drives.
DRIVE_POOL = tuple(f"{c}:" for c in "VWXYZUTSRPONMLKJIHGFEDQ")

#: Letters no share may take: the nodes' floppy and system drives.
RESERVED_DRIVES = frozenset({"A:", "B:", "C:"})


@dataclass(frozen=True)
class Share:
    """A share as jobs use it: local mount point, remote path, drive letter on the nodes."""

    local: str
    remote: Unc
    drive: str
    detected: bool = False


def _local_text(text: str) -> str:
    """A local mount point as given; a bare drive (`Q:`) means that drive's root (`Q:\\`)."""
    value = text.strip()
    if _LOCAL_DRIVE.match(value):
        return value[:2].upper() + "\\"
    return value


def parse_shares(text: str) -> tuple[Mount, ...]:
    """Shares from the `shares` option; raise ValueError naming the entry that is wrong."""
    found: list[Mount] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        match = _ENTRY.match(entry)
        if match is None:
            raise ValueError(
                f"shares: '{entry}' is not of the form LOCAL=//server/share[:X], "
                "e.g. /home/bob/net/home=//qdrive/homes/bob:Q"
            )
        try:
            remote = Unc.parse(match["remote"])
        except ValueError as e:
            raise ValueError(f"shares: {e}") from None
        drive = f"{match['drive'].upper()}:" if match["drive"] else None
        if drive in RESERVED_DRIVES:
            raise ValueError(
                f"shares: '{entry}' uses {drive}, which is the nodes' own drive; choose another "
                "letter"
            )
        found.append(Mount(_local_text(match["local"]), remote, drive))
    _refuse_duplicates(found)
    return tuple(found)


def _refuse_duplicates(mounts: Sequence[Mount]) -> None:
    drives: dict[str, Mount] = {}
    locals_: dict[str, Mount] = {}
    for mount in mounts:
        if mount.drive is not None:
            other = drives.get(mount.drive)
            if other is not None:
                raise ValueError(
                    f"shares: drive {mount.drive} is given to both {other.remote} and "
                    f"{mount.remote}; give each share its own letter"
                )
            drives[mount.drive] = mount
        key = _local_key(mount.local)
        if key in locals_:
            raise ValueError(f"shares: the local path '{mount.local}' is given twice")
        locals_[key] = mount


def _local_key(local: str) -> str:
    return os.path.normcase(os.path.normpath(local))


def resolve_shares(explicit: Iterable[Mount], detected: Iterable[Mount] = ()) -> list[Share]:
    """Every share jobs will map: the explicit ones, then detected ones not overridden."""
    given = list(explicit)
    taken_locals = {_local_key(m.local) for m in given}
    taken_remotes = {m.remote.key() for m in given}
    extra = [
        m
        for m in detected
        if _local_key(m.local) not in taken_locals and m.remote.key() not in taken_remotes
    ]
    used = {m.drive for m in given if m.drive}
    wanted: list[tuple[Mount, str | None, bool]] = [(m, m.drive, False) for m in given]
    for mount in extra:
        drive = mount.drive if mount.drive and mount.drive not in used else None
        if drive:
            used.add(drive)
        wanted.append((mount, drive, True))
    shares = []
    for mount, drive, was_detected in wanted:
        letter = drive or _free_drive(mount.remote, used)
        used.add(letter)
        shares.append(Share(mount.local, mount.remote, letter, was_detected))
    return shares


def _free_drive(remote: Unc, used: set[str]) -> str:
    for prefix, letter in DEFAULT_DRIVES:
        if remote.is_within(prefix) and letter not in used:
            return letter
    for letter in DRIVE_POOL:
        if letter not in used:
            return letter
    raise ShareError(
        "too many shares: no drive letter is left for " + remote.posix(),
        "Remove shares you do not need from the 'shares' option.",
    )


@dataclass(frozen=True)
class Location:
    """Where one local path is: on which share, and the path components below it."""

    share: Share
    parts: tuple[str, ...]

    def unc(self, *more: str) -> Unc:
        return self.share.remote.joinpath(*self.parts, *more)

    def windows(self, *more: str) -> str:
        """The path on a Windows node once the share is mapped to its drive."""
        return drive_path(self.share.drive, (*self.parts, *more))

    def linux(self, rules: Sequence[LinuxMount], *more: str) -> str:
        """The path on a Linux node; raises ShareError if no rule says where the share is."""
        unc = self.unc(*more)
        found = linux_path(unc, rules)
        if found is None:
            raise ShareError(
                f"the share {self.share.remote.posix()} has no known mount point on the "
                "Linux nodes",
                "Tell hipercow where it is: hipercow driver configure windows-hpc "
                f"linux_mounts={self.share.remote.posix()}=/mnt/...",
            )
        return found


def _real(path: str | PurePath) -> Path:
    return Path(os.path.realpath(path))


def locate(path: Path, shares: Sequence[Share]) -> Location:
    """The share holding `path` (the deepest, if shares nest); ShareError if none does."""
    target = _real(path)
    best: Location | None = None
    for share in shares:
        base = _real(share.local)
        if not target.is_relative_to(base):
            continue
        parts = target.relative_to(base).parts
        if best is None or len(parts) < len(best.parts):
            best = Location(share, parts)
    if best is None:
        known = "; ".join(f"{s.local} ({s.remote})" for s in shares) or "none found"
        raise ShareError(
            f"'{path}' is not on a network share that the cluster can see (shares: {known})",
            "Move the project to a network share, or declare the share it is on: hipercow "
            "driver configure windows-hpc shares=/local/mount=//server/share:X",
        )
    return best
