"""Waiting on many tasks from Python: rounds of batched status reads, `as_completed` and `wait`.

However many tasks are watched, one round reads the unfinished tasks' files
(following retries) and, on a pace that backs off to the driver's
`max_poll_interval`, puts the still-active ones to their drivers in one
batched call per driver. So `as_completed` over 500 tasks costs what
`hipercow bundle wait` costs, never 500 scheduler queries.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION
from typing import TYPE_CHECKING, NamedTuple

from hipercow_core import jobs
from hipercow_core.errors import InvalidInputError, TaskStateError
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.store import file_statuses
from hipercow_core.tasks import FILE_POLL, _max_poll_interval, _SchedulerPace

if TYPE_CHECKING:
    from hipercow_core.task_handles import Task

#: What `wait` may be asked to return on, as in `concurrent.futures.wait`.
RETURN_WHEN = (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION)


class StatusRounds:
    """Statuses of a changing set of one root's tasks, one round at a time.

    Each round reads the files of the tasks asked about, following each to
    its latest retry; when the pace allows, the ones still submitted or
    running are put to their drivers in one batched call (`jobs.reconcile`).
    """

    def __init__(self, root: Root, first_poll: float = 0.5) -> None:
        self.root = root
        self.first_poll = first_poll
        self._pace: _SchedulerPace | None = None

    def round(self, task_ids: Iterable[str]) -> dict[str, tuple[str, TaskStatus]]:
        """For each task: its latest retry and that retry's status, as of now."""
        found = file_statuses(self.root, list(task_ids), follow=True)
        active = {latest: status for latest, status in found.values() if status.is_active}
        if active and self._pace_for(next(iter(active))).ready():
            fresh = jobs.reconcile(self.root, active)
            found = {t: (latest, fresh.get(latest, s)) for t, (latest, s) in found.items()}
        return found

    def _pace_for(self, task_id: str) -> _SchedulerPace:
        if self._pace is None:
            ceiling = _max_poll_interval(self.root, task_id)
            self._pace = _SchedulerPace(self.first_poll, ceiling)
        return self._pace


class DoneAndNotDone(NamedTuple):
    """What `wait` returns, as `concurrent.futures.wait` does: finished tasks, and the rest."""

    done: set[Task]
    not_done: set[Task]


def as_completed(tasks: Iterable[Task], timeout: float | None = None) -> Iterator[Task]:
    """Yield each task as it finishes (success, failure or cancelled), in the order they end.

    Raises TimeoutError if tasks remain unfinished `timeout` seconds after the
    call; a task that was never submitted is refused at once, since it would
    never finish.
    """
    pending = _distinct(tasks)
    deadline = None if timeout is None else time.monotonic() + timeout
    rounds: dict[str, StatusRounds] = {}
    total = len(pending)
    first = True
    while pending:
        for task in _finished_in_round(pending, rounds, refuse_created=first):
            pending.remove(task)
            yield task
        first = False
        if not pending:
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"{len(pending)} (of {total}) tasks did not finish in {timeout} s")
        time.sleep(FILE_POLL)


def wait(
    tasks: Iterable[Task], timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> DoneAndNotDone:
    """Wait until all tasks finish (or the first does, or the first fails), or `timeout` passes.

    As `concurrent.futures.wait`: `return_when` is ALL_COMPLETED,
    FIRST_COMPLETED or FIRST_EXCEPTION (a task that did not succeed).
    """
    if return_when not in RETURN_WHEN:
        raise InvalidInputError(
            f"return_when={return_when!r} is not known",
            "Use ALL_COMPLETED, FIRST_COMPLETED or FIRST_EXCEPTION (from concurrent.futures).",
        )
    pending = _distinct(tasks)
    done: set[Task] = set()
    deadline = None if timeout is None else time.monotonic() + timeout
    rounds: dict[str, StatusRounds] = {}
    first = True
    while pending:
        finished = _finished_in_round(pending, rounds, refuse_created=first)
        first = False
        done.update(finished)
        pending.difference_update(finished)
        if finished and return_when == FIRST_COMPLETED:
            break
        if return_when == FIRST_EXCEPTION and any(
            t.status(reconcile=False) != TaskStatus.SUCCESS for t in finished
        ):
            break
        if not pending or (deadline is not None and time.monotonic() >= deadline):
            break
        time.sleep(FILE_POLL)
    return DoneAndNotDone(done, set(pending))


def _distinct(tasks: Iterable[Task]) -> set[Task]:
    return set(tasks)


def _finished_in_round(
    pending: set[Task], rounds: dict[str, StatusRounds], *, refuse_created: bool
) -> list[Task]:
    """The pending tasks that are finished now: one round per root they belong to."""
    by_root: dict[str, list[Task]] = {}
    for task in pending:
        by_root.setdefault(str(task.root.project), []).append(task)
    finished = []
    for key, group in by_root.items():
        poller = rounds.setdefault(key, StatusRounds(group[0].root))
        found = poller.round(t.id for t in group)
        for task in group:
            latest, status = found[task.id]
            # Only the task itself: a retry along its chain may be linked but not yet submitted.
            if refuse_created and status == TaskStatus.CREATED and latest == task.id:
                raise TaskStateError(
                    f"task {task.id} was never submitted, so it would never finish",
                    f"Run 'hipercow task submit {task.id}' first.",
                )
            if status.is_terminal or status == TaskStatus.MISSING:
                finished.append(task)
    return finished
