"""Connecting to the pool's Redis, with one wording for a Redis that cannot be reached."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis

from hipercow_core.errors import SchedulerUnavailableError

T = TypeVar("T")


def connect(url: str) -> redis.Redis:
    """A client for `url`; nothing is sent until the first command."""
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
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
    except (redis.ConnectionError, redis.TimeoutError) as e:
        raise unavailable(url, e) from None
