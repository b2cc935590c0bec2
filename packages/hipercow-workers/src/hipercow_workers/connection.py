"""Connecting to the pool's Redis, with one wording for a Redis that cannot be reached."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hipercow_core.errors import SchedulerUnavailableError
from hipercow_workers.resp import Client, RedisUnavailableError

T = TypeVar("T")

#: What a Redis that cannot be reached (refused, timed out, dropped) raises.
REDIS_DOWN = (RedisUnavailableError,)


def connect(url: str) -> Client:
    """A client for `url`; nothing is sent until the first command."""
    try:
        return Client(url, connect_timeout=5, timeout=30)
    except ValueError as e:
        raise SchedulerUnavailableError(
            f"'{url}' is not a Redis URL ({e})",
            "Configure it as 'hipercow driver configure workers redis_url=redis://HOST:PORT'.",
        ) from None


def unavailable(url: str, error: Exception) -> SchedulerUnavailableError:
    return SchedulerUnavailableError(
        f"cannot reach the workers' Redis at {url} ({error})",
        "Check that Redis runs there, or change 'redis_url' with "
        "'hipercow driver configure workers redis_url=...'.",
    )


def guarded(url: str, call: Callable[[], T]) -> T:
    """Run a Redis call, turning a connection failure into `SchedulerUnavailableError`."""
    try:
        return call()
    except REDIS_DOWN as e:
        raise unavailable(url, e) from None
