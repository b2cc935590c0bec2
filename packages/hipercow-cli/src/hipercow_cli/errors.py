"""Turning failures into one or two readable lines and an exit code."""

from __future__ import annotations

import os
import sys

from hipercow_core.errors import HipercowError

TRACEBACK_ENV = "HIPERCOW_TRACEBACK"


def want_traceback() -> bool:
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0", "false")


def report(error: BaseException) -> int:
    """Print an error for a person; returns the exit code to use."""
    red = sys.stderr.isatty() and "NO_COLOR" not in os.environ
    label = "\x1b[31mError:\x1b[0m" if red else "Error:"
    if isinstance(error, OSError):
        from hipercow_core.fsutil import storage_error

        error = storage_error(error) or error
    if isinstance(error, HipercowError):
        sys.stderr.write(f"{label} {error.message}\n")
        if error.hint:
            sys.stderr.write(f"  {error.hint}\n")
        return 1
    sys.stderr.write(f"{label} unexpected {type(error).__name__}: {error}\n")
    sys.stderr.write(f"  This is a bug in hipercow; set {TRACEBACK_ENV}=1 to see the traceback.\n")
    return 70


def check_arguments(argv: list[str]) -> None:
    """Refuse a command line holding bytes that are not UTF-8.

    POSIX hands such bytes to Python as lone surrogates, which nothing
    downstream can store or print; one message naming the argument is better.
    """
    from hipercow_core.errors import InvalidInputError

    for number, argument in enumerate(argv, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            shown = argument.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise InvalidInputError(
                f"argument {number} ('{shown}') holds bytes that are not UTF-8",
                "Give it in UTF-8 (with a UTF-8 locale such as LANG=C.UTF-8).",
            ) from None
