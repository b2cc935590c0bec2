"""What a conda prefix holds, read from its files: `conda-meta/*.json`, activation scripts.

Every conda installer (py-rattler, micromamba, mamba, conda) records each
package it links as `conda-meta/<name>-<version>-<build>.json`, so reading
those files lists a prefix the same way whichever tool built it.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from hipercow_conda_env.request import LockedPackage
from hipercow_core.schema import PackageInfo

CONDA_META = "conda-meta"
ACTIVATE_D = "etc/conda/activate.d"


class MetaRecord(msgspec.Struct, frozen=True):
    """The fields of a `conda-meta` record that we read (the files hold many more)."""

    name: str
    version: str
    build: str = ""
    channel: str | None = None
    url: str | None = None
    subdir: str | None = None
    sha256: str | None = None
    md5: str | None = None
    fn: str | None = None


_decoder = msgspec.json.Decoder(MetaRecord)


def _channel_of(record: MetaRecord) -> str:
    """The channel address, from the record or, for tools that omit it, from the URL."""
    if record.channel:
        return record.channel.rstrip("/")
    if record.url and record.fn and record.subdir:
        return record.url.removesuffix(f"/{record.subdir}/{record.fn}")
    return "unknown"


def meta_records(prefix: Path) -> list[MetaRecord]:
    """Every package recorded in the prefix, by name."""
    directory = prefix / CONDA_META
    if not directory.is_dir():
        return []
    records = [_decoder.decode(path.read_bytes()) for path in directory.glob("*.json")]
    return sorted(records, key=lambda r: r.name)


def conda_packages(prefix: Path) -> list[PackageInfo]:
    return [
        PackageInfo(
            name=r.name, version=r.version, source=_channel_of(r), build=r.build, sha256=r.sha256
        )
        for r in meta_records(prefix)
    ]


def locked_packages(prefix: Path) -> list[LockedPackage]:
    """The prefix's packages exactly, for the attempt's lock."""
    locked = []
    for r in meta_records(prefix):
        subdir = r.subdir or "noarch"
        url = (
            r.url
            or f"{_channel_of(r)}/{subdir}/{r.fn or f'{r.name}-{r.version}-{r.build}.tar.bz2'}"
        )
        locked.append(
            LockedPackage(
                name=r.name,
                version=r.version,
                build=r.build,
                channel=_channel_of(r),
                subdir=subdir,
                url=url,
                sha256=r.sha256,
                md5=r.md5,
            )
        )
    return locked


def interpreter(prefix: Path) -> str | None:
    """`bin/python` when the prefix has its own Python, else None."""
    return "bin/python" if (prefix / "bin" / "python").exists() else None


def activation_scripts(prefix: Path) -> tuple[str, ...]:
    """The POSIX activation scripts, in the order conda sources them (sorted by name)."""
    directory = prefix / ACTIVATE_D
    if not directory.is_dir():
        return ()
    return tuple(f"{ACTIVATE_D}/{p.name}" for p in sorted(directory.glob("*.sh")))


_PEP503 = re.compile(r"[-_.]+")


def normalised(name: str) -> str:
    return _PEP503.sub("-", name).lower()
