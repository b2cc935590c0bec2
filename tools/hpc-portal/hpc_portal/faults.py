"""Faults injected on demand into the next calls of a path.

A driver must survive a slow portal, an HTTP 500, a body of garbage and a
connection dropped without an answer, and a session that lapses at a chosen
call ("lapse": every session ends just before it is answered, so the call
meets a lapsed session whatever the machine's speed). Tests ask for those here, for the next
``count`` calls of one path (or of every path, ``"*"``), and by default the
call is not carried out. With ``after`` true the call is carried out first and
only its answer is lost, the case where a retried submit would double a job.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = ("slow", "500", "garbage", "drop", "lapse")
ANY_PATH = "*"


@dataclass
class Fault:
    """A pending fault: ``kind`` on the next ``remaining`` calls of ``path``."""

    path: str
    kind: str
    remaining: int
    delay: float = 0.0
    after: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-able view."""
        return asdict(self)


class FaultBook:
    """Pending faults, consumed first-in first-out per call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self, path: str, kind: str, count: int = 1, delay: float = 0.0, after: bool = False
    ) -> Fault:
        """Queue a fault; ``path`` is relative to the portal base URL, e.g. ``submit_1.php``."""
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, not {kind!r}")
        if count < 1:
            raise ValueError("fault count must be at least 1")
        if kind == "slow" and delay <= 0:
            raise ValueError("a slow fault needs a positive delay")
        if delay < 0:
            raise ValueError("delay must not be negative")
        fault = Fault(path.lstrip("/") if path != ANY_PATH else path, kind, count, delay, after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """The fault to apply to this call of ``path``, if any (consuming one use)."""
        with self._lock:
            for fault in self._faults:
                if fault.path in (path, ANY_PATH):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return Fault(fault.path, fault.kind, 1, fault.delay, fault.after)
        return None

    def pending(self) -> list[dict[str, Any]]:
        """Faults not yet used up."""
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()
