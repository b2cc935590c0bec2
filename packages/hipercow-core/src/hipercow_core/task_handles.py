"""`Task`: a handle on one task, for scripts and notebooks, as a future is for a thread pool.

A handle is only a root and an id; everything is read from the task's files
when asked, so a handle can be pickled, sent to another process or kept
across a notebook's restarts. Every question follows the task to its latest
retry (`follow=False` asks about the task itself), as the CLI does.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from hipercow_core.errors import HipercowError, TaskStateError
from hipercow_core.ids import validate_task_id
from hipercow_core.pytasks import TaskFailedError, task_result
from hipercow_core.resources import parse_resources
from hipercow_core.retry import follow as follow_retries
from hipercow_core.retry import retry_tasks
from hipercow_core.root import Root
from hipercow_core.schema import TaskInfo, TaskStatus
from hipercow_core.store import file_status, read_markers, read_task_data
from hipercow_core.tasks import (
    FILE_POLL,
    cancel_tasks,
    task_info,
    task_log,
    task_outer_log,
    task_status,
    wait_task,
)

#: Lines of a task's log that a failure carries.
LOG_TAIL_LINES = 20


def as_root(root: Root | str | Path | None) -> Root:
    """A Root from a Root, a project path, or None (found from the working directory)."""
    if isinstance(root, Root):
        return root
    if root is None:
        return Root.find()
    return Root(Path(root))


class Task:
    """One task: its status, log, result and retries; `await task` waits for its result."""

    __slots__ = ("id", "root")

    def __init__(self, root: Root | str | Path | None, task_id: str) -> None:
        self.root = as_root(root)
        self.id = validate_task_id(task_id)

    @classmethod
    def existing(cls, root: Root | str | Path | None, task_id: str) -> Task:
        """A handle on a task that must exist (a missing one raises TaskNotFoundError)."""
        task = cls(root, task_id)
        read_task_data(task.root, task.id)
        return task

    def __reduce__(self) -> tuple[Any, ...]:
        return (Task, (str(self.root.project), self.id))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Task)
            and other.id == self.id
            and other.root.project == self.root.project
        )

    def __hash__(self) -> int:
        return hash((self.id, str(self.root.project)))

    def __repr__(self) -> str:
        return f"<Task {self.id} {file_status(self.root, self.latest())}>"

    def _repr_html_(self) -> str:
        from hipercow_core.html_display import task_html

        return task_html(self)

    def latest(self) -> str:
        """The id of this task's latest retry (its own id if it was never retried)."""
        return follow_retries(self.root, [self.id])[0]

    def _target(self, follow: bool) -> str:
        return self.latest() if follow else self.id

    def status(self, *, follow: bool = True, reconcile: bool = True) -> TaskStatus:
        """The status now; asks the scheduler about a submitted or running task."""
        return task_status(self.root, self._target(follow), reconcile=reconcile)

    def done(self) -> bool:
        """Whether it has finished (success, failure or cancelled)."""
        return self.status().is_terminal

    def wait(self, timeout: float | None = None, *, follow: bool = True) -> TaskStatus:
        """Wait until it finishes or `timeout` seconds pass; returns the last status seen."""
        return wait_task(self.root, self._target(follow), timeout=timeout)

    def result(self, timeout: float | None = None, *, follow: bool = True) -> Any:
        """Wait, then the value it returned (None for a shell command that succeeded).

        Raises TaskFailedError if it did not succeed (with the remote traceback,
        the end of its log and the scheduler's log), TimeoutError if it is still
        unfinished after `timeout` seconds.
        """
        target = self._target(follow)
        status = wait_task(self.root, target, timeout=timeout)
        return settled_result(self.root, target, status, timeout)

    def exception(
        self, timeout: float | None = None, *, follow: bool = True
    ) -> HipercowError | None:
        """Wait, then the error `result()` would raise, or None if it succeeded."""
        try:
            self.result(timeout, follow=follow)
        except TaskFailedError as e:
            return e
        except TaskStateError as e:
            return e
        return None

    def cancel(self) -> bool:
        """Cancel it (its latest retry) if unfinished; True if this call cancelled it."""
        latest = self.latest()
        return cancel_tasks(self.root, [latest])[latest]

    def log(self, *, outer: bool = False, follow: bool = True) -> str | None:
        """Its output so far (or, with `outer`, the scheduler's log); None if there is none yet."""
        target = self._target(follow)
        return task_outer_log(self.root, target) if outer else task_log(self.root, target)

    def info(self, *, follow: bool = True) -> TaskInfo:
        """Its data, status, times, job id, exit code and reason."""
        return task_info(self.root, self._target(follow))

    def retry(self, *, driver: str | None = None, **changes: Any) -> Task:
        """Run it again as a new linked task (keeping its resources but those changed here).

        `changes` are resources as in `parse_resources`, e.g. `max_runtime="4h"`,
        `cores=4`. Only a finished task can be retried.
        """
        given = parse_resources(**changes)
        fields = {
            name: getattr(given, name) for name in changes if name not in ("requested_nodes",)
        }
        if "requested_nodes" in changes:
            fields["requested_nodes"] = given.requested_nodes
        done = retry_tasks(self.root, [self.id], resource_changes=fields, driver=driver)
        return Task(self.root, next(iter(done.values())))

    def __await__(self) -> Generator[Any, None, Any]:
        """`await task`: its result, waiting without blocking the event loop."""
        return self._result_async().__await__()

    async def _result_async(self) -> Any:
        import asyncio  # here, not at the top: it is loaded whenever this runs, and only then

        target = self.latest()
        status = await asyncio.to_thread(task_status, self.root, target)
        if status == TaskStatus.CREATED:
            raise TaskStateError(
                f"task '{target}' was never submitted",
                f"Run 'hipercow task submit {target}' first.",
            )
        asked = time.monotonic()
        interval = FILE_POLL
        while not status.is_terminal and status != TaskStatus.MISSING:
            await asyncio.sleep(FILE_POLL)
            reconcile = time.monotonic() - asked >= interval
            if reconcile:
                asked, interval = time.monotonic(), min(interval * 1.5, 10.0)
            status = await asyncio.to_thread(task_status, self.root, target, reconcile=reconcile)
        return await asyncio.to_thread(settled_result, self.root, target, status, None)


def settled_result(root: Root, task_id: str, status: TaskStatus, timeout: float | None) -> Any:
    """The result of a task whose wait ended with `status`, or the error to raise instead."""
    if status == TaskStatus.SUCCESS:
        if read_task_data(root, task_id).kind == "shell":
            return None
        return task_result(root, task_id)
    if status in (TaskStatus.FAILURE, TaskStatus.CANCELLED):
        raise failure_of(root, task_id, status)
    if status == TaskStatus.MISSING:
        raise TaskStateError(
            f"task {task_id} is missing", "Its files were removed (purge?) or never made."
        )
    raise TimeoutError(f"task {task_id} is still {status} after {timeout} s")


def failure_of(root: Root, task_id: str, status: TaskStatus) -> TaskFailedError:
    """Why a finished task did not succeed: its exception, or how it ended; with its logs."""
    log_text = task_log(root, task_id) or ""
    tail = "".join(log_text.splitlines(keepends=True)[-LOG_TAIL_LINES:]) or None
    try:
        outer = task_outer_log(root, task_id)
    except HipercowError:
        outer = None
    if read_task_data(root, task_id).kind != "shell":
        try:
            task_result(root, task_id)
        except TaskFailedError as e:
            return TaskFailedError(
                task_id, e.error_type, e.error_message, e.traceback, log_tail=tail, outer_log=outer
            )
        except HipercowError:
            pass
    finished = read_markers(root, task_id).finished
    reason = finished.reason if finished and finished.reason else None
    exit_code = finished.exit_code if finished else None
    how = reason or (f"exit code {exit_code}" if exit_code is not None else None)
    ended = "was cancelled" if status == TaskStatus.CANCELLED else "failed"
    return TaskFailedError(
        task_id,
        str(status),
        how or str(status),
        "",
        ended=f"{ended} ({how})" if how else ended,
        log_tail=tail,
        outer_log=outer,
    )
