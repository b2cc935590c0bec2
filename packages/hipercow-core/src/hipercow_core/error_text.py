"""How an error reads on a terminal, shared by every command hipercow installs.

`hipercow` (hipercow-cli) and the standalone `hipercow-provision` must say
errors the same way, and hipercow-provision does not depend on hipercow-cli,
so the wording and the exit codes live here. Nothing is printed: a front end
writes the text where it wants it.
"""

from __future__ import annotations

import os

from hipercow_core.errors import HipercowError

TRACEBACK_ENV = "HIPERCOW_TRACEBACK"

EXIT_ERROR = 1
"""A `HipercowError`: something the user can fix, said in one or two lines."""

EXIT_USAGE = 2
"""A command line that does not parse (click's own code, kept for every command)."""

EXIT_BUG = 70
"""Any other exception: a bug in hipercow (EX_SOFTWARE)."""


def want_traceback() -> bool:
    """Whether the user asked for Python's traceback instead of the two lines."""
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0", "false")


def error_text(error: BaseException, colour: bool = False) -> tuple[str, int]:
    """The lines to show for `error` (ending in a newline) and the exit code to use.

    A `HipercowError` is its message and, indented below it, its hint; so is
    an `OSError` that a full disk, a quota or a read-only share explains
    (`fsutil.storage_error`). Anything else is named as a bug, with how to see
    the traceback.
    """
    label = "\x1b[31mError:\x1b[0m" if colour else "Error:"
    if isinstance(error, OSError):
        from hipercow_core.fsutil import storage_error

        error = storage_error(error) or error
    if isinstance(error, HipercowError):
        hint = f"  {error.hint}\n" if error.hint else ""
        return f"{label} {error.message}\n{hint}", EXIT_ERROR
    return (
        f"{label} unexpected {type(error).__name__}: {error}\n"
        f"  This is a bug in hipercow; set {TRACEBACK_ENV}=1 to see the traceback.\n",
        EXIT_BUG,
    )
