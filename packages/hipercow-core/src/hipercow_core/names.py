"""Names that clash on a case-insensitive share though they differ here.

Bundles and environments are files and directories named after them. Linux
keeps `DUP` and `dup` apart, but a share that Windows, macOS or SMB clients
use does not: there one overwrites or hides the other. So a new name is
refused when it differs only by case from an existing one. Windows also
reserves some names outright (device names such as `con` and `nul`, with any
extension, and names ending in a dot or a space): a file or directory of that
name cannot be made there, so those are refused everywhere.
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


#: Device names Windows reserves, with or without an extension, in any case.
WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{n}" for n in range(10)}
    | {f"lpt{n}" for n in range(10)}
)


def windows_reserved(name: str) -> str | None:
    """Why Windows cannot have a file or directory called `name`, or None if it can."""
    if name.endswith((".", " ")):
        return "Windows drops a trailing dot or space from file names"
    if name.split(".", 1)[0].rstrip(" ").casefold() in WINDOWS_DEVICES:
        return "Windows reserves it for a device"
    return None


def refuse_windows_reserved(kind: str, name: str) -> None:
    """Raise when `name` cannot be a file or directory name on a Windows share."""
    reason = windows_reserved(name)
    if reason is not None:
        raise InvalidInputError(
            f"'{name}' cannot be {kind} name: {reason}",
            "Choose another name (projects on shares are reached from Windows too).",
        )
