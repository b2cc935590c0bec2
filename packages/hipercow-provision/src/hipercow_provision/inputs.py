"""What an attempt installs: packages named on the command line, a requirements file, or a pyproject.

Inputs are read once, on the machine that asks for the attempt, and kept in
the attempt's record, so the history says exactly what was asked even after
the file changed. Their hash is taken over the requirement lines that matter
(blank lines and comments dropped, order ignored, line endings normalised),
so `check` reports a change only when a new attempt would install something
different, whether the lines came from a file or the command line.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from pathlib import Path

from hipercow_core.errors import InvalidInputError
from hipercow_core.schema import ProvisionInputs

REQUIREMENTS_TXT = "requirements.txt"
PYPROJECT_TOML = "pyproject.toml"


def _shown_path(path: Path, base: Path) -> str:
    """The path relative to `base` (POSIX) when inside it, so it means the same on every node."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(resolved)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(
            f"{what} '{path}' does not exist", "Give the path of an existing file."
        ) from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{what} '{path}' is not UTF-8 text") from None


def from_packages(packages: Sequence[str]) -> ProvisionInputs:
    cleaned = tuple(p.strip() for p in packages if p.strip())
    if not cleaned:
        raise InvalidInputError("no packages given", "Name packages, e.g. 'numpy pandas==2.2'.")
    return ProvisionInputs(kind="packages", packages=cleaned)


def from_requirements(path: Path, base: Path) -> ProvisionInputs:
    content = _read_text(path, "requirements file")
    return ProvisionInputs(kind="requirements", file=_shown_path(path, base), content=content)


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


def select_inputs(
    base: Path,
    *,
    requirements: Path | None = None,
    pyproject: Path | None = None,
    packages: Sequence[str] = (),
    last: ProvisionInputs | None = None,
) -> ProvisionInputs:
    """The inputs asked for, or the default ones.

    With nothing given, the last attempt's source is used again (its file read
    afresh), else `base`'s pyproject.toml dependencies, else its
    requirements.txt.
    """
    given = [x for x in (requirements, pyproject, list(packages) or None) if x]
    if len(given) > 1:
        raise InvalidInputError(
            "give only one of --requirements, --pyproject or package names",
            "Put every package into one requirements file to combine them.",
        )
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
    if inputs.kind == "packages" or inputs.file is None:
        return inputs
    path = Path(inputs.file)
    path = path if path.is_absolute() else base / path
    if inputs.kind == "requirements":
        return from_requirements(path, base)
    return from_pyproject(path, base)


def requirement_lines(inputs: ProvisionInputs) -> list[str]:
    """The lines that decide what gets installed, in a canonical order."""
    if inputs.kind == "requirements":
        raw = (inputs.content or "").replace("\r\n", "\n").split("\n")
    else:
        raw = list(inputs.packages)
    lines = (line.split(" #", 1)[0].strip() for line in raw)
    return sorted({line for line in lines if line and not line.startswith("#")})


def inputs_hash(engine: str, inputs: ProvisionInputs) -> str:
    """sha256 of the engine and the canonical requirement lines."""
    text = "\n".join([f"engine={engine}", *requirement_lines(inputs)])
    return hashlib.sha256(text.encode()).hexdigest()


def describe(inputs: ProvisionInputs, limit: int = 60) -> str:
    """A short summary for tables: `six==1.16.0 idna`, `requirements.txt`, `pyproject.toml`."""
    text = " ".join(inputs.packages) if inputs.kind == "packages" else inputs.file or inputs.kind
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def install_arguments(inputs: ProvisionInputs, workdir: Path) -> list[str]:
    """Arguments for `pip install` / `uv pip install`.

    A requirements file is installed from the copy kept with the attempt, so
    what was recorded is exactly what was installed.
    """
    if inputs.kind == "requirements":
        copy = workdir / REQUIREMENTS_TXT
        copy.write_text(inputs.content or "", encoding="utf-8")
        return ["-r", str(copy)]
    return list(inputs.packages)
