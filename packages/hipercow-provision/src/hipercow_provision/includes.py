"""Requirements files that include others: `-r other.txt` and `-c constraints.txt` lines.

pip reads an included file relative to the file that names it. An attempt
keeps a copy of its requirements file with its history and installs from
that copy, so the files it includes are read too, from where the including
file really is, kept in the attempt's record (`ProvisionInputs.included`),
and copied beside it with the include lines pointing at the copies. What
was recorded is then exactly what was installed, and `check` sees a change
in an included file as a change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from hipercow_core.errors import InvalidInputError
from hipercow_core.schema import IncludedFile, ProvisionInputs

#: `-r FILE`, `-rFILE`, `--requirement FILE`, `--requirement=FILE`, and the same for `-c`.
_INCLUDE = re.compile(
    r"^(?P<option>--requirement|--constraint|-r|-c)(?:\s*=\s*|\s+|(?<=-[rc]))"
    r"(?P<path>[^\s#]+)(?P<rest>.*)$"
)
#: Includes that name a URL are left to pip, which fetches them itself.
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
INCLUDED_DIR = "included"
#: Characters a copy's name keeps; others become `_`.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def include_paths(content: str) -> Iterator[tuple[int, str]]:
    """(line number, path as written) of each local file that `content` includes."""
    for number, line in enumerate(content.replace("\r\n", "\n").split("\n"), start=1):
        match = _INCLUDE.match(line.strip())
        if match and not _URL.match(match["path"]):
            yield number, match["path"]


def read_included(
    path: Path,
    key: str,
    content: str,
    shown: Callable[[Path], str],
    read: Callable[[Path, str], str],
) -> tuple[IncludedFile, ...]:
    """Every file `content` (read from `path`, recorded as `key`) includes, however deep.

    Each is read relative to the file that names it, as pip does; one that
    is missing is an error naming the line that includes it. A file included
    twice is read once.
    """
    found: list[IncludedFile] = []
    seen = {path.resolve()}
    pending = [(path, key, content)]
    while pending:
        current, current_key, text = pending.pop(0)
        for number, written in include_paths(text):
            target = Path(written)
            target = target if target.is_absolute() else current.parent / target
            if not target.is_file():
                raise InvalidInputError(
                    f"'{current_key}' includes '{written}' (line {number}), "
                    f"which does not exist at '{target}'",
                    "Paths after -r and -c are relative to the file that names them.",
                )
            target_key = shown(target)
            body = read(target, "included requirements file")
            found.append(IncludedFile(target_key, body, current_key, written))
            if target.resolve() not in seen:
                seen.add(target.resolve())
                pending.append((target, target_key, body))
    return tuple(found)


def write_copies(inputs: ProvisionInputs, workdir: Path, main: Path) -> None:
    """Write the requirements file and what it includes into `workdir`, linked to each other.

    `main` is where the requirements file's copy goes; included files go to
    `included/NN-name`, and each include line of a copy names the copy of
    the file it included, relative to it (pip and uv read include paths
    relative to the including file) and without spaces, which neither
    tool's line parsing would keep.
    """
    copies: dict[str, Path] = {}
    for index, included in enumerate(inputs.included):
        name = _UNSAFE.sub("_", Path(included.file.replace("\\", "/")).name)
        copies.setdefault(included.file, workdir / INCLUDED_DIR / f"{index:02d}-{name}")
    files = [(inputs.file or "", inputs.content or "", main)]
    files += [(i.file, i.content, copies[i.file]) for i in inputs.included]
    written: set[Path] = set()
    for key, content, destination in files:
        if destination in written:
            continue
        written.add(destination)
        links = {
            i.as_written: os.path.relpath(copies[i.file], destination.parent).replace("\\", "/")
            for i in inputs.included
            if i.included_from == key
        }
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(_relinked(content, links), encoding="utf-8")


def _relinked(content: str, links: dict[str, str]) -> str:
    lines = []
    for line in content.replace("\r\n", "\n").split("\n"):
        match = _INCLUDE.match(line.strip())
        if match and match["path"] in links:
            lines.append(f"{match['option']} {links[match['path']]}{match['rest']}")
        else:
            lines.append(line)
    return "\n".join(lines)
