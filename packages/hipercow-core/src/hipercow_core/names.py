"""Names that clash on a case-insensitive share though they differ here.

Bundles and environments are files and directories named after them. Linux
keeps `DUP` and `dup` apart, but a share that Windows, macOS or SMB clients
use does not: there one overwrites or hides the other. So a new name is
refused when it differs only by case from an existing one.
"""

from __future__ import annotations

import os
from pathlib import Path

from hipercow_core.errors import InvalidInputError


def case_twin(directory: Path, entry: str) -> str | None:
    """An entry of `directory` that differs from `entry` only by case, if there is one."""
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return None
    folded = entry.casefold()
    return next((e for e in entries if e != entry and e.casefold() == folded), None)


def refuse_case_twin(kind: str, name: str, twin: str | None, hint: str) -> None:
    """Raise when `twin` (an existing name) differs from the new `name` only by case."""
    if twin is not None:
        raise InvalidInputError(
            f"{kind} '{twin}' already exists, and '{name}' differs from it only by case "
            "(the two would clash on Windows and macOS shares)",
            hint,
        )
