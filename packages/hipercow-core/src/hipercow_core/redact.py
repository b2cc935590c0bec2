"""Masking secret values in a stream of output as it is written, for the runner's task log.

A value may arrive split across two reads, so the tail of each chunk that
could be the start of a value is held back until the next chunk (or the end)
shows whether it is one. Values are replaced longest first, so a value that
contains another is masked whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

MASK = b"***"


class Redactor:
    """Feed it output in chunks; what it returns never contains any of the values."""

    def __init__(self, values: Iterable[bytes]) -> None:
        self._values = sorted({v for v in values if v}, key=len, reverse=True)
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        """The part of the output so far that is safe to write; the rest waits."""
        text = self._pending + chunk
        for value in self._values:
            text = text.replace(value, MASK)
        hold = self._held_back(text)
        self._pending = text[len(text) - hold :] if hold else b""
        return text[: len(text) - hold]

    def flush(self) -> bytes:
        """Everything still held back: the output has ended, so it cannot become a value."""
        rest, self._pending = self._pending, b""
        return rest

    def _held_back(self, text: bytes) -> int:
        """The length of the longest tail of `text` that begins some value."""
        longest = max((len(v) for v in self._values), default=1) - 1
        for size in range(min(longest, len(text)), 0, -1):
            tail = text[-size:]
            if any(v.startswith(tail) for v in self._values):
                return size
        return 0


def copy_redacted(source: int, target: int, values: Iterable[str]) -> None:
    """Copy from one file descriptor to another until end of file, masking the values."""
    redactor = Redactor(v.encode() for v in values)
    while chunk := os.read(source, 65536):
        _write_all(target, redactor.feed(chunk))
    _write_all(target, redactor.flush())


def _write_all(target: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(target, view) :]
