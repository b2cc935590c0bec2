"""Waits that end on time: task files are read often, the scheduler is asked rarely.

These drive the core API in this process with the real local driver, counting
the driver's status calls (the scheduler calls a wait makes) by wrapping the
real method, and compare the moment a wait returns with the `finished` marker
of the last task.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from hipercow_core.drivers.local import LocalDriver
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.tasks import TaskSpec, create_tasks, task_info, wait_task, wait_tasks

CEILING = 3.0


@pytest.fixture
def scheduler_calls(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Times of every status call the local driver answers, with a 3 s back-off ceiling."""
    calls: list[float] = []
    real: Callable[..., object] = LocalDriver.status

    def counted(self: LocalDriver, jobs: object) -> object:
        calls.append(time.monotonic())
        return real(self, jobs)

    monkeypatch.setattr(LocalDriver, "status", counted)
    monkeypatch.setattr(LocalDriver, "max_poll_interval", CEILING)
    return calls


def most_calls(seconds: float, first: float) -> int:
    """The most scheduler calls a wait of this long may make: a ramp, then one per ceiling."""
    ramp = math.ceil(math.log(CEILING / first) / math.log(1.5))
    return 1 + ramp + math.ceil(seconds / CEILING)


def lag_after_last_marker(root: Root, ids: list[str], returned: datetime) -> float:
    finished = [task_info(root, t).times.finished for t in ids]
    assert all(f is not None for f in finished)
    return (returned - max(f for f in finished if f is not None)).total_seconds()


@pytest.mark.parametrize("count", [1, 3])
def test_a_wait_ends_within_a_second_of_the_last_marker(
    project: Root, scheduler_calls: list[float], count: int
) -> None:
    # old waits that backed off file reads too would notice these ends 2 s late
    specs = [TaskSpec(command=("sh", "-c", f"sleep {5 + i}")) for i in range(count)]
    ids = create_tasks(project, specs, cwd=project.project)
    started = time.monotonic()
    scheduler_calls.clear()
    if count == 1:
        final = {ids[0]: wait_task(project, ids[0], timeout=60)}
        first = 0.1
    else:
        final = wait_tasks(project, ids, timeout=60)
        first = 0.2
    returned = datetime.now(UTC)
    assert set(final.values()) == {TaskStatus.SUCCESS}

    assert lag_after_last_marker(project, ids, returned) < 1.0
    # asking the scheduler at every file read would be 25 calls or more
    assert len(scheduler_calls) <= most_calls(time.monotonic() - started, first)
