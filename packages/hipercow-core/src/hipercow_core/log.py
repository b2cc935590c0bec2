"""Logging through structlog, imported only when someone wants the output.

structlog (with rich installed) costs tens of milliseconds to import, which
would dominate quick commands like `task status`. Loggers here are cheap
proxies: until `enable_logging` is called, their methods do nothing.
"""

from __future__ import annotations

import sys
from typing import Any

_enabled = False


class _LazyLogger:
    def __init__(self, name: str) -> None:
        self._name = name

    def _emit(self, level: str, event: str, **fields: Any) -> None:
        if not _enabled:
            return
        import structlog

        getattr(structlog.get_logger(self._name), level)(event, **fields)

    def debug(self, event: str, **fields: Any) -> None:
        self._emit("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", event, **fields)


def get_logger(name: str) -> _LazyLogger:
    return _LazyLogger(name)


def enable_logging(level: str = "debug") -> None:
    """Send structured log lines to stderr (the CLI's `-v`)."""
    global _enabled
    import logging

    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _enabled = True
