"""Turning failures into one or two readable lines and an exit code.

The wording and exit codes are `hipercow_core.error_text`'s, shared with the
standalone `hipercow-provision`; this module only decides colour and writes.
"""

from __future__ import annotations

import os
import sys

from hipercow_core.error_text import TRACEBACK_ENV, error_text, want_traceback

__all__ = ["TRACEBACK_ENV", "report", "want_traceback"]


def report(error: BaseException) -> int:
    """Print an error for a person on stderr; returns the exit code to use."""
    text, code = error_text(error, colour=sys.stderr.isatty() and "NO_COLOR" not in os.environ)
    sys.stderr.write(text)
    return code


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
