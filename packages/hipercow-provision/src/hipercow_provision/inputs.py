"""What an attempt installs: packages named on the command line, a requirements file, or a pyproject.

Inputs are read once, on the machine that asks for the attempt, and kept in
the attempt's record, so the history says exactly what was asked even after
the file changed. Their hash is taken over the requirement lines that matter
(blank lines and comments dropped, order ignored, line endings normalised),
so `check` reports a change only when a new attempt would install something
different, whether the lines came from a file or the command line.
"""

from __future__ import annotations

import codecs
import hashlib
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import msgspec

from hipercow_core.errors import InvalidInputError
from hipercow_core.schema import ProvisionInputs
from hipercow_provision.includes import read_included, write_copies

REQUIREMENTS_TXT = "requirements.txt"
PYPROJECT_TOML = "pyproject.toml"
# What an engine that writes an exact lock leaves in the attempt's directory;
# `--from-attempt` replays it.
LOCK_FILE = "lock.json"


@runtime_checkable
class InputsChecker(Protocol):
    """An engine that settles its inputs on the submitting machine, before a job is spent.

    The conda engine reads an environment.yml's channels and checks its
    `pip:` section there; `given` are the channels given now, `default` the
    environment's own.
    """

    def check_inputs(
        self, inputs: ProvisionInputs, given: tuple[str, ...], default: tuple[str, ...]
    ) -> ProvisionInputs: ...


def _shown_path(path: Path, base: Path) -> str:
    """The path relative to `base` (POSIX) when inside it, so it means the same on every node."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(resolved)


def _read_text(path: Path, what: str) -> str:
    """A text file's content: UTF-8, or UTF-16 with its byte-order mark.

    PowerShell 5's `pip freeze > requirements.txt` writes UTF-16 with a BOM,
    and Notepad may add a UTF-8 BOM; both are read as the text they hold.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(
            f"{what} '{path}' does not exist", "Give the path of an existing file."
        ) from None
    encoding = (
        "utf-16" if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    )
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"{what} '{path}' is not UTF-8 (or UTF-16) text",
            "Save it as UTF-8, e.g. in PowerShell: Get-Content FILE | Set-Content -Encoding utf8 NEW",
        ) from None


def from_packages(packages: Sequence[str]) -> ProvisionInputs:
    cleaned = tuple(p.strip() for p in packages if p.strip())
    if not cleaned:
        raise InvalidInputError("no packages given", "Name packages, e.g. 'numpy pandas==2.2'.")
    return ProvisionInputs(kind="packages", packages=cleaned)


def from_requirements(path: Path, base: Path) -> ProvisionInputs:
    """A requirements file as read, with every file it includes (`-r`, `-c`) read too."""
    content = _read_text(path, "requirements file")
    key = _shown_path(path, base)
    included = read_included(path, key, content, lambda p: _shown_path(p, base), _read_text)
    return ProvisionInputs(kind="requirements", file=key, content=content, included=included)


def from_pyproject(path: Path, base: Path) -> ProvisionInputs:
    """The `[project] dependencies` of a pyproject.toml (the project itself is not installed)."""
    text = _read_text(path, "pyproject file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInputError(f"'{path}' is not valid TOML: {e}") from None
    dependencies = data.get("project", {}).get("dependencies")
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise InvalidInputError(
            f"'{path}' has no [project] dependencies list",
            "Add your packages to 'dependencies = [...]' under [project], "
            "or give a requirements file with --requirements.",
        )
    return ProvisionInputs(
        kind="pyproject", packages=tuple(dependencies), file=_shown_path(path, base)
    )


def from_environment_file(path: Path, base: Path) -> ProvisionInputs:
    """A conda environment.yml, kept as read; the conda engine reads what it says."""
    content = _read_text(path, "environment file")
    return ProvisionInputs(kind="environment", file=_shown_path(path, base), content=content)


def from_lock(attempt_id: str, lock: str) -> ProvisionInputs:
    """An earlier attempt's exact set, to build again as it was."""
    return ProvisionInputs(kind="lock", file=attempt_id, content=lock)


def select_inputs(
    base: Path,
    *,
    requirements: Path | None = None,
    pyproject: Path | None = None,
    packages: Sequence[str] = (),
    last: ProvisionInputs | None = None,
    environment_file: Path | None = None,
) -> ProvisionInputs:
    """The inputs asked for, or the default ones.

    With nothing given, the last attempt's source is used again (its file read
    afresh), else `base`'s pyproject.toml dependencies, else its
    requirements.txt.
    """
    given = [x for x in (requirements, pyproject, environment_file, list(packages) or None) if x]
    if len(given) > 1:
        raise InvalidInputError(
            "give only one of --requirements, --pyproject, --file or package names",
            "Put every package into one requirements file to combine them.",
        )
    if environment_file is not None:
        path = environment_file if environment_file.is_absolute() else base / environment_file
        return from_environment_file(path, base)
    if requirements is not None:
        return from_requirements(
            requirements if requirements.is_absolute() else base / requirements, base
        )
    if pyproject is not None:
        return from_pyproject(pyproject if pyproject.is_absolute() else base / pyproject, base)
    if packages:
        return from_packages(packages)
    if last is not None:
        return reread(last, base)
    if (base / PYPROJECT_TOML).is_file():
        return from_pyproject(base / PYPROJECT_TOML, base)
    if (base / REQUIREMENTS_TXT).is_file():
        return from_requirements(base / REQUIREMENTS_TXT, base)
    raise InvalidInputError(
        f"nothing to install: no packages given and no {PYPROJECT_TOML} "
        f"or {REQUIREMENTS_TXT} in '{base}'",
        "Name packages, or use --requirements FILE or --pyproject.",
    )


def reread(inputs: ProvisionInputs, base: Path) -> ProvisionInputs:
    """The same source as an earlier attempt's, with its file as it is now."""
    if inputs.kind in ("packages", "lock") or inputs.file is None:
        return inputs
    path = Path(inputs.file)
    path = path if path.is_absolute() else base / path
    if inputs.kind == "requirements":
        fresh = from_requirements(path, base)
    elif inputs.kind == "environment":
        fresh = from_environment_file(path, base)
    else:
        fresh = from_pyproject(path, base)
    return msgspec.structs.replace(fresh, channels=inputs.channels)


def requirement_lines(inputs: ProvisionInputs) -> list[str]:
    """The lines that decide what gets installed, in a canonical order.

    An environment.yml or a lock counts as it reads (its order can matter:
    channels come in priority order), comments and blank lines aside.
    """
    if inputs.kind in ("requirements", "environment", "lock"):
        raw = (inputs.content or "").replace("\r\n", "\n").split("\n")
    else:
        raw = list(inputs.packages)
    lines = [line.split(" #", 1)[0].rstrip() for line in raw]
    kept = [line for line in lines if line.strip() and not line.strip().startswith("#")]
    if inputs.kind in ("environment", "lock"):
        return kept
    found = {line.strip() for line in kept}
    for included in inputs.included:  # a change in an included file is a change
        lines = included.content.replace("\r\n", "\n").split("\n")
        found.update(f"{included.file}: {line}" for line in _meaningful(lines))
    return sorted(found)


def _meaningful(raw: Sequence[str]) -> Iterator[str]:
    """The lines that are neither blank nor comments, without trailing comments."""
    lines = (line.split(" #", 1)[0].strip() for line in raw)
    return (line for line in lines if line and not line.startswith("#"))


def inputs_hash(engine: str, inputs: ProvisionInputs) -> str:
    """sha256 of the engine, the channels (in order) and the canonical requirement lines."""
    channels = [f"channel={c}" for c in inputs.channels]
    text = "\n".join([f"engine={engine}", *channels, *requirement_lines(inputs)])
    return hashlib.sha256(text.encode()).hexdigest()


def describe(inputs: ProvisionInputs, limit: int = 60) -> str:
    """A short summary for tables: `six==1.16.0 idna`, `requirements.txt`, `pyproject.toml`."""
    if inputs.kind == "packages":
        text = " ".join(inputs.packages)
    elif inputs.kind == "lock":
        text = f"lock of {inputs.file}"
    else:
        text = inputs.file or inputs.kind
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def install_arguments(inputs: ProvisionInputs, workdir: Path) -> list[str]:
    """Arguments for `pip install` / `uv pip install`.

    A requirements file is installed from the copy kept with the attempt
    (with copies of the files it includes), so what was recorded is exactly
    what was installed.
    """
    if inputs.kind in ("environment", "lock"):
        raise InvalidInputError(
            f"{'an environment.yml' if inputs.kind == 'environment' else 'a lock'} is for the conda engine",
            "Create the environment with '--engine conda' to install it.",
        )
    if inputs.kind == "requirements":
        copy = workdir / REQUIREMENTS_TXT
        write_copies(inputs, workdir, copy)
        return ["-r", str(copy)]
    return list(inputs.packages)
