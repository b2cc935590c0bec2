"""The log of every protocol call the stand-in received.

Tests read it to check what a driver really sent: each decoded field, which
session it used, how often it logged in, whether it sent ``Accept:
text/plain``, and whether the stand-in found anything wrong (``error``).
Passwords are masked: the log is printed when tests fail.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

MASKED = "***"


@dataclass
class CallRecord:
    """One protocol call. ``path`` is relative to the base URL (absolute if outside it)."""

    seq: int
    time: float
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    raw_fields: dict[str, str] = field(default_factory=dict)
    session: str | None = None
    user: str | None = None
    accept: str | None = None
    content_type: str | None = None
    status: int | None = None
    error: str | None = None
    fault: str | None = None
    outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able view."""
        return asdict(self)


class CallLog:
    """Thread-safe list of call records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []
        self._seq = 0

    def new(self, when: float, method: str, path: str) -> CallRecord:
        """Start a record (appended at once, so concurrent calls keep arrival order)."""
        with self._lock:
            self._seq += 1
            record = CallRecord(seq=self._seq, time=when, method=method, path=path)
            self._records.append(record)
            return record

    def list(self, path: str | None = None) -> list[dict[str, Any]]:
        """All records (optionally for one path), oldest first."""
        with self._lock:
            return [r.to_json() for r in self._records if path is None or r.path == path]

    def clear(self) -> None:
        """Forget every record (sequence numbers keep increasing)."""
        with self._lock:
            self._records.clear()
