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
