"""Network paths, and the rules that say where a share appears on the cluster's Linux nodes.

A project lives on an SMB share. Windows nodes reach it by UNC path or by a
drive letter mapped onto it; Linux nodes see the same shares under fixed
mount points. Which share appears where is a *table* (`DEFAULT_LINUX_MOUNTS`,
extended by the `linux_mounts` option), so a new share or a renamed server is
a line of configuration, not a code change. Server names are compared by
their short name (`qdrive.dide.ic.ac.uk` is `qdrive`), through a table of
aliases, and path components case-insensitively, as SMB does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Servers known under more than one name; keys and values are short lower-case names.
HOST_ALIASES: dict[str, str] = {
    "wpia-san04": "qdrive",
}

_UNC_START = re.compile(r"^(?://|\\\\)")
_SEPARATORS = re.compile(r"[\\/]+")
_BAD_COMPONENT = re.compile(r'[<>:"|?*\x00-\x1f]')


def canonical_host(server: str) -> str:
    """A server's short, lower-case name with known aliases resolved."""
    short = server.strip().lower().split(".", 1)[0]
    return HOST_ALIASES.get(short, short)


@dataclass(frozen=True)
class Unc:
    """A UNC path: a server, a share, and perhaps directories below the share."""

    server: str
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Unc:
        """Read `//server/share/dir` or `\\\\server\\share\\dir`; raise ValueError otherwise."""
        value = text.strip()
        if not _UNC_START.match(value):
            raise ValueError(f"'{text}' is not a network path: write it as //server/share")
        pieces = [p for p in _SEPARATORS.split(value[2:]) if p]
        if len(pieces) < 2:
            raise ValueError(f"'{text}' names no share: write it as //server/share")
        for piece in pieces:
            if _BAD_COMPONENT.search(piece) or piece in (".", ".."):
                raise ValueError(f"'{text}' has an invalid path component '{piece}'")
        return cls(pieces[0], tuple(pieces[1:]))

    @property
    def share(self) -> str:
        return self.parts[0]

    def windows(self) -> str:
        """The path as Windows writes it: `\\\\server\\share\\dir`."""
        return "\\\\" + "\\".join((self.server, *self.parts))

    def posix(self) -> str:
        """The path with forward slashes, as in mount tables and options: `//server/share/dir`."""
        return "//" + "/".join((self.server, *self.parts))

    def joinpath(self, *parts: str) -> Unc:
        return Unc(self.server, (*self.parts, *parts))

    def key(self) -> tuple[str, ...]:
        """What identifies the path: short server name and lower-case components."""
        return (canonical_host(self.server), *(p.lower() for p in self.parts))

    def is_within(self, other: Unc) -> bool:
        """Whether this path is `other` or below it."""
        mine, theirs = self.key(), other.key()
        return mine[: len(theirs)] == theirs

    def __str__(self) -> str:
        return self.posix()


@dataclass(frozen=True)
class LinuxMount:
    """A rule: everything under `remote` appears on Linux nodes under `linux`."""

    remote: Unc
    linux: str


def _mount(remote: str, linux: str) -> LinuxMount:
    return LinuxMount(Unc.parse(remote), linux)


#: Where the cluster's Linux nodes mount the institute's shares. A home share
#: `\\qdrive\homes\bob` is `/mnt/homes/bob`; the cluster storage share (also
#: reachable as `\\wpia-hn\hipercow`) is `/mnt/cluster`.
DEFAULT_LINUX_MOUNTS: tuple[LinuxMount, ...] = (
    _mount("//qdrive/homes", "/mnt/homes"),
    _mount("//wpia-hn/cluster-storage", "/mnt/cluster"),
    _mount("//wpia-hn/hipercow", "/mnt/cluster"),
    _mount("//wpia-hn2/climate-storage", "/mnt/vimc-cc1"),
    _mount("//wpia-hn2/vimc-cc2-storage", "/mnt/vimc-cc2"),
)


def parse_linux_mounts(text: str) -> tuple[LinuxMount, ...]:
    """Rules from option text: `//server/share=/mnt/point,//other/share=/mnt/other`.

    Raises ValueError naming the entry that is wrong.
    """
    rules = []
    for entry in _entries(text):
        remote, sep, linux = entry.partition("=")
        if not sep:
            raise ValueError(
                f"linux_mounts: '{entry}' is not of the form //server/share=/linux/path"
            )
        linux = linux.strip().rstrip("/")
        if not linux.startswith("/"):
            raise ValueError(
                f"linux_mounts: '{entry}': the Linux mount point must be an absolute path"
            )
        try:
            rules.append(LinuxMount(Unc.parse(remote), linux))
        except ValueError as e:
            raise ValueError(f"linux_mounts: {e}") from None
    return tuple(rules)


def _entries(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]


def linux_path(unc: Unc, rules: Iterable[LinuxMount]) -> str | None:
    """Where a UNC path appears on the Linux nodes, by the most specific rule; None if nowhere.

    Rules given first win among rules of equal specificity, so user rules
    (put before the defaults) override them.
    """
    best: LinuxMount | None = None
    for rule in rules:
        if unc.is_within(rule.remote) and (
            best is None or len(rule.remote.parts) > len(best.remote.parts)
        ):
            best = rule
    if best is None:
        return None
    rest = unc.parts[len(best.remote.parts) :]
    return "/".join((best.linux, *rest)) if rest else best.linux


def drive_path(drive: str, parts: Sequence[str]) -> str:
    """A path on a mapped drive: `V:` and (`a`, `b`) give `V:\\a\\b`."""
    return drive + "\\" + "\\".join(parts)
