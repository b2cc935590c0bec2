"""A small real conda channel, made on the spot: `python tools/conda-channel/conda_channel.py DIR`.

Every package is a genuine `.tar.bz2` conda package (`info/index.json`,
`info/paths.json`, `info/files`, the payload), and the channel's repodata is
written by `rattler.index`, so whatever solves and installs from it here
solves and installs from conda-forge or a site's offline mirror the same way.
Addressed as `--channel file:///…/DIR` (see README.md for what each package
is for).

    linux-64/mini-align  1.0, 2.0   a stand-in aligner (a sh CLI reading FASTA)
    linux-64/libfasta    1.0, 1.1   the FASTA reader it sources (1.0 needs 1.0.*, 2.0 >=1.1)
    noarch/seqnames      0.1, 0.2   a noarch: python package
    noarch/refgenome     1.0, 2.0   sets REFGENOME_DATA in etc/conda/activate.d
    linux-64/python      X.Y.Z      this machine's own interpreter, venv-style
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The placeholder conda tools replace with the real prefix when installing a text file.
PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
SUBDIR = "linux-64"


@dataclass(frozen=True)
class Payload:
    """One file of a package: its text, or a symbolic link's target when `link` is set."""

    text: str = ""
    executable: bool = False
    has_prefix: bool = False
    link: str | None = None


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    files: Mapping[str, Payload]
    depends: Sequence[str] = ()
    noarch: str | None = None
    build_number: int = 0
    extra_index: Mapping[str, object] = field(default_factory=dict)

    @property
    def subdir(self) -> str:
        return "noarch" if self.noarch else SUBDIR

    @property
    def build(self) -> str:
        return f"{'pyh' if self.noarch == 'python' else 'h'}local_{self.build_number}"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}.tar.bz2"


def _index_json(package: Package) -> dict[str, object]:
    index: dict[str, object] = {
        "name": package.name,
        "version": package.version,
        "build": package.build,
        "build_number": package.build_number,
        "depends": list(package.depends),
        "license": "MIT",
        "subdir": package.subdir,
        "timestamp": int(time.time() * 1000),
    }
    if package.noarch:
        index["noarch"] = package.noarch
    else:
        index.update(platform="linux", arch="x86_64")
    index.update(package.extra_index)
    return index


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _add_link(archive: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, int(time.time())
    archive.addfile(info)


def write_package(package: Package, channel: Path) -> Path:
    """Write one `.tar.bz2` into the channel's subdir; returns its path."""
    paths: list[dict[str, object]] = []
    target = channel / package.subdir / package.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:bz2", compresslevel=1) as archive:
        for path, payload in sorted(package.files.items()):
            if payload.link is not None:
                _add_link(archive, path, payload.link)
                paths.append({"_path": path, "path_type": "softlink"})
                continue
            data = payload.text.encode()
            _add(archive, path, data, 0o755 if payload.executable else 0o644)
            entry: dict[str, object] = {
                "_path": path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_in_bytes": len(data),
            }
            if payload.has_prefix:
                entry.update(prefix_placeholder=PLACEHOLDER, file_mode="text")
            paths.append(entry)
        _add(archive, "info/index.json", json.dumps(_index_json(package), indent=1).encode())
        _add(archive, "info/paths.json", json.dumps({"paths": paths, "paths_version": 1}).encode())
        _add(archive, "info/files", "".join(f"{p}\n" for p in sorted(package.files)).encode())
        prefixed = [p for p, f in package.files.items() if f.has_prefix]
        if prefixed:
            lines = "".join(f"{PLACEHOLDER} text {p}\n" for p in prefixed)
            _add(archive, "info/has_prefix", lines.encode())
    return target


# ---------------------------------------------------------------------------
# The packages

_LIBFASTA = """\
# libfasta {version}: FASTA reading for sh tools. `fasta_records FILE` prints
# one line per record: its name, a tab, its whole sequence (upper case).
LIBFASTA_VERSION={version}
fasta_records() {{
    awk '/^>/ {{ if (name != "") print name "\\t" seq; name = substr($1, 2); seq = ""; next }}
         {{ seq = seq toupper($0) }}
         END {{ if (name != "") print name "\\t" seq }}' "$1"
}}
"""

_MINI_ALIGN = """\
#!/bin/sh
# mini-align {version}: a stand-in aligner. For each read of READS.fa, print
# the read's name, the reference record it occurs in and its 1-based position
# (exact matches only), or `*` when it occurs nowhere.
. "{placeholder}/lib/libfasta.sh"
if [ "$1" = "--version" ]; then
    echo "mini-align {version} (libfasta $LIBFASTA_VERSION)"
    exit 0
fi
if [ $# -ne 2 ] || [ ! -r "$1" ] || [ ! -r "$2" ]; then
    echo "usage: mini-align REF.fa READS.fa" >&2
    exit 2
fi
ref=$(fasta_records "$1")
fasta_records "$2" | while IFS="$(printf '\\t')" read -r name seq; do
    printf '%s\\n' "$ref" | awk -v n="$name" -v s="$seq" -F '\\t' '
        {{ i = index($2, s); if (i > 0 && !found) {{ print n "\\t" $1 "\\t" i; found = 1 }} }}
        END {{ if (!found) print n "\\t*\\t0" }}'
done
"""

_SEQNAMES = '''\
"""seqnames {version}: names of the records of a FASTA file."""

__version__ = "{version}"


def names(path):
    with open(path) as handle:
        return [line[1:].split()[0] for line in handle if line.startswith(">")]
'''

_REFGENOME_ACTIVATE = """\
# refgenome {version}: where its reference data is, for tools that read it.
export REFGENOME_DATA="${{CONDA_PREFIX}}/share/refgenome"
export REFGENOME_VERSION="{version}"
"""


def libfasta(version: str) -> Package:
    text = _LIBFASTA.format(version=version)
    return Package("libfasta", version, {"lib/libfasta.sh": Payload(text)})


def mini_align(version: str, needs: str) -> Package:
    text = _MINI_ALIGN.format(version=version, placeholder=PLACEHOLDER)
    payload = Payload(text, executable=True, has_prefix=True)
    return Package("mini-align", version, {"bin/mini-align": payload}, depends=(needs,))


def seqnames(version: str) -> Package:
    files = {
        "site-packages/seqnames/__init__.py": Payload(_SEQNAMES.format(version=version)),
        f"site-packages/seqnames-{version}.dist-info/METADATA": Payload(
            f"Metadata-Version: 2.1\nName: seqnames\nVersion: {version}\n"
        ),
        f"site-packages/seqnames-{version}.dist-info/INSTALLER": Payload("conda\n"),
    }
    return Package("seqnames", version, files, depends=("python",), noarch="python")


def refgenome(version: str) -> Package:
    files = {
        "etc/conda/activate.d/refgenome.sh": Payload(_REFGENOME_ACTIVATE.format(version=version)),
        "share/refgenome/genome.fa": Payload(f">chrRef{version}\nACGTACGTTTGACCA\n"),
    }
    return Package("refgenome", version, files, noarch="generic")


def python_package() -> Package:
    """This machine's interpreter as a conda `python` package (see README.md).

    The package holds `bin/python` (a link to this interpreter) and a
    `pyvenv.cfg`, so the prefix behaves as a virtual environment of it: its own
    `lib/pythonX.Y/site-packages`, the standard library from this machine.
    """
    version = ".".join(map(str, sys.version_info[:3]))
    short = "{}.{}".format(*sys.version_info[:2])
    base = Path(sys.base_prefix)
    executable = base / "bin" / f"python{short}"
    if not executable.exists():
        executable = Path(sys.executable).resolve()
    files = {
        f"bin/python{short}": Payload(link=str(executable)),
        "bin/python3": Payload(link=f"python{short}"),
        "bin/python": Payload(link=f"python{short}"),
        "pyvenv.cfg": Payload(
            f"home = {executable.parent}\ninclude-system-site-packages = false\n"
            f"version = {version}\n"
        ),
        f"lib/python{short}/site-packages/README.txt": Payload(
            "Packages of this conda environment.\n"
        ),
    }
    return Package("python", version, files)


def packages() -> list[Package]:
    """Every package of the channel, each in two versions (python in one)."""
    return [
        libfasta("1.0"),
        libfasta("1.1"),
        mini_align("1.0", "libfasta 1.0.*"),
        mini_align("2.0", "libfasta >=1.1"),
        seqnames("0.1"),
        seqnames("0.2"),
        refgenome("1.0"),
        refgenome("2.0"),
        python_package(),
    ]


def index(channel: Path) -> None:
    """Write (or rewrite) the channel's repodata.json for every subdir."""
    import asyncio

    from rattler.index import index_fs

    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    asyncio.run(index_fs(channel, write_zst=False, write_shards=False, force=True))


def build_channel(channel: Path, chosen: Sequence[Package] | None = None) -> str:
    """Make the channel at `channel`; returns its `file://` address for `--channel`."""
    channel = channel.resolve()
    for package in packages() if chosen is None else chosen:
        write_package(package, channel)
    index(channel)
    return channel.as_uri()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the local test conda channel.")
    parser.add_argument("directory", type=Path, help="Where to make the channel.")
    args = parser.parse_args(argv)
    print(build_channel(args.directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
