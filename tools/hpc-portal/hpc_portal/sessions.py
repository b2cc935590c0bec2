"""PHP-style sessions: a PHPSESSID cookie set at login, expiring after inactivity.

Like PHP's default, a session lives ``session_ttl`` seconds from its last use.
A failed login still gets a session (PHP starts one for every visitor); it is
simply not logged in, which is why a wrong password only shows later, as an
empty head-node list.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE_NAME = "PHPSESSID"
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class Session:
    """One session; ``user`` is None unless the login succeeded."""

    id: str
    user: str | None
    access: bool
    created: float
    last_used: float

    @property
    def authorised(self) -> bool:
        """Whether this session may use the cluster."""
        return self.user is not None and self.access


class SessionStore:
    """All live sessions, expiring lazily on lookup."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def set_ttl(self, ttl: float) -> None:
        """How long sessions live idle from now on (sessions alive now included)."""
        self._ttl = ttl

    def create(self, user: str | None, access: bool) -> Session:
        """Start a new session (a fresh id, as PHP would after a login form post)."""
        now = self._clock()
        session_id = "".join(secrets.choice(_ALPHABET) for _ in range(26))
        session = Session(session_id, user, access, now, now)
        with self._lock:
            self._sessions[session_id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, refreshing its last use; None if unknown/expired."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_used > self._ttl:
                del self._sessions[session_id]
                return None
            session.last_used = now
            return session

    def peek(self, session_id: str | None) -> Session | None:
        """Like :meth:`get` but without refreshing (used to label logged calls)."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or self._clock() - session.last_used > self._ttl:
                return None
            return session

    def destroy(self, session_id: str | None) -> None:
        """End one session (logout)."""
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def expire_all(self) -> int:
        """End every session now; returns how many there were."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count
