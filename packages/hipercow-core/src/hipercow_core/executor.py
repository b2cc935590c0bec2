"""`HipercowExecutor`: `concurrent.futures.Executor` whose workers are cluster tasks.

`submit` makes one task per call; `map` makes one bundle of tasks in one
driver submission; inside `batch()`, calls are written at once and sent
together when the block ends. Each future is backed by a task (`future.task`)
and settled by one watcher thread per executor, which reads all unfinished
tasks in one round (see `task_waits.StatusRounds`), so a thousand futures
cost one batched scheduler query per round, not a thousand.

Closing the executor (`shutdown`, or leaving its `with` block) waits for the
futures but never cancels a task unless asked (`cancel_futures=True`): the
tasks belong to the root, and outlive the Python process that made them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hipercow_core.bundle_tasks import create_bundle
from hipercow_core.drivers.registry import get_driver
from hipercow_core.errors import HipercowError
from hipercow_core.function_calls import Call, FunctionTarget, call_rows, call_specs
from hipercow_core.pytasks import DEFAULT_MAX_ARGS_SIZE
from hipercow_core.resources import parse_resources
from hipercow_core.root import Root
from hipercow_core.schema import Resources, TaskStatus
from hipercow_core.task_handles import Task, as_root, settled_result
from hipercow_core.task_waits import StatusRounds
from hipercow_core.tasks import FILE_POLL, cancel_tasks, create_tasks, submit_with


class TaskFuture(Future[Any]):
    """A future backed by a task: `future.task` is its handle; `cancel()` cancels the task.

    Unlike a thread pool's future, a running one can be cancelled too: the
    task is stopped on the cluster.
    """

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task

    def cancel(self) -> bool:
        if self.done():
            return self.cancelled()
        self.task.cancel()
        if self.task.status() == TaskStatus.CANCELLED:
            return Future.cancel(self)
        return False

    def running(self) -> bool:
        return not self.done() and self.task.status(reconcile=False) == TaskStatus.RUNNING

    def __repr__(self) -> str:
        return f"<TaskFuture {self.task.id} {self._state.lower()}>"


class MapResults(Iterator[Any]):
    """What `HipercowExecutor.map` returns: its values in order, and the bundle that makes them.

    Iterating waits for each value in turn (raising the first failure when it
    is reached, as `Executor.map` does); `bundle` and `futures` are there to
    look at the sweep as a whole.
    """

    def __init__(
        self,
        bundle_name: str | None,
        root: Root,
        futures: list[TaskFuture],
        timeout: float | None,
    ) -> None:
        self.bundle_name = bundle_name
        self.root = root
        self.futures = futures
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._next = 0

    @property
    def bundle(self) -> Any:
        """The bundle of the map's tasks (None for a map over nothing, which makes none)."""
        from hipercow_core.bundle_handles import Bundle

        return None if self.bundle_name is None else Bundle(self.root, self.bundle_name)

    def __iter__(self) -> MapResults:
        return self

    def __next__(self) -> Any:
        if self._next >= len(self.futures):
            raise StopIteration
        future = self.futures[self._next]
        self._next += 1
        left = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
        return future.result(left)

    def __len__(self) -> int:
        return len(self.futures)


class _Watcher:
    """Settles futures as their tasks finish: one thread, one round of status reads at a time."""

    def __init__(self, root: Root) -> None:
        self.rounds = StatusRounds(root)
        self.root = root
        self.pending: dict[str, TaskFuture] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def watch(self, futures: Iterable[TaskFuture]) -> None:
        with self.lock:
            self.pending.update({f.task.id: f for f in futures})
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="hipercow-executor", daemon=True
                )
                self.thread.start()
        self.wake.set()

    def join(self) -> None:
        while True:
            with self.lock:
                thread = self.thread
            if thread is None:
                return
            thread.join()

    def _run(self) -> None:
        while True:
            with self.lock:
                ids = [t for t, f in self.pending.items() if not f.done()]
                for task_id in list(self.pending):
                    if task_id not in ids:
                        del self.pending[task_id]
                if not ids:
                    self.thread = None
                    return
            try:
                found = self.rounds.round(ids)
            except HipercowError:
                found = {}  # e.g. a scheduler that cannot be asked just now: try next round
            except Exception as e:
                self._fail_all(e)  # never leave futures waiting on a watcher that is gone
                return
            for task_id, (latest, status) in found.items():
                if status.is_terminal or status == TaskStatus.MISSING:
                    self._settle(self.pending[task_id], latest, status)
            self.wake.wait(FILE_POLL)
            self.wake.clear()

    def _fail_all(self, error: Exception) -> None:
        with self.lock:
            futures = [f for f in self.pending.values() if not f.done()]
            self.pending.clear()
            self.thread = None
        for future in futures:
            if future.set_running_or_notify_cancel():
                future.set_exception(error)

    def _settle(self, future: TaskFuture, latest: str, status: TaskStatus) -> None:
        if status == TaskStatus.CANCELLED:
            Future.cancel(future)
            return
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(settled_result(self.root, latest, status, None))
        except BaseException as e:
            future.set_exception(e)


class HipercowExecutor(Executor):
    """Run Python calls as hipercow tasks through the root's driver.

    `resources` is a `Resources`, or give resources as keywords in the forms
    users type (`cores=4`, `max_runtime="2h"`, `queue="short"`, as
    `parse_resources` takes them). Functions defined in `__main__` or a
    notebook cell travel by value (cloudpickle); importable ones by name.
    """

    def __init__(
        self,
        root: Root | str | Path | None = None,
        driver: str | None = None,
        environment: str | None = None,
        resources: Resources | None = None,
        *,
        envvars: Mapping[str, str] | None = None,
        max_args_size: int = DEFAULT_MAX_ARGS_SIZE,
        **resource_options: Any,
    ) -> None:
        self.root = as_root(root)
        self.driver = driver
        self.environment = environment
        if resources is not None and resource_options:
            raise TypeError("give resources either as a Resources or as keywords, not both")
        self.resources = resources or parse_resources(**resource_options)
        self.envvars = dict(envvars or {})
        self.max_args_size = max_args_size
        self._watcher = _Watcher(self.root)
        self._shutdown = False
        self._batch: list[TaskFuture] | None = None
        self._targets: dict[tuple[int, str], FunctionTarget] = {}
        self._lock = threading.Lock()

    # -- creating

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> TaskFuture:
        """One task calling `fn(*args, **kwargs)`; its future."""
        self._refuse_after_shutdown()
        spec = call_specs(self._target(fn), [(args, kwargs)], **self._spec_options())[0]
        submit = self._batch is None
        task_id = create_tasks(
            self.root, [spec], cwd=Path.cwd(), driver=self.driver, submit=submit
        )[0]
        future = TaskFuture(Task(self.root, task_id))
        self._started([future])
        return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        name: str | None = None,
    ) -> MapResults:
        """`fn` over the iterables' items as one bundle, sent in one driver submission.

        Values come back in order; `timeout` counts from this call, as in
        `Executor.map`. Leaving the iteration early cancels nothing. `name` names the bundle (default: a readable
        random one), which `hipercow bundle ...` and `Bundle(root, name)` then
        know; each task's row of the bundle holds its arguments by parameter name.
        """
        del chunksize  # one task per call: the cluster, not a process pool, does the chunking
        self._refuse_after_shutdown()
        calls: list[Call] = [(args, {}) for args in zip(*iterables, strict=False)]
        if not calls:
            return MapResults(None, self.root, [], timeout)
        target = self._target(fn)
        specs = call_specs(target, calls, **self._spec_options())
        bundle = create_bundle(
            self.root,
            specs,
            name=name,
            command=(target.name,),
            driver=self.driver,
            submit=self._batch is None,
            data=call_rows(fn, calls),
        )
        futures = [TaskFuture(Task(self.root, task_id)) for task_id in bundle.task_ids]
        self._started(futures)
        return MapResults(bundle.name, self.root, futures, timeout)

    @contextmanager
    def batch(self) -> Iterator[HipercowExecutor]:
        """Calls to `submit` and `map` inside the block go to the driver as one submission.

        Tasks are written as the calls are made; when the block ends, all of
        them are submitted in one batched call. If the block raises, they are
        still submitted (they exist, and their futures were handed out).
        """
        if self._batch is not None:
            yield self
            return
        self._batch = []
        try:
            yield self
        finally:
            futures, self._batch = self._batch, None
            if futures:
                submit_with(
                    self.root, get_driver(self.root, self.driver), [f.task.id for f in futures]
                )
                self._watcher.watch(futures)

    # -- closing

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls; with `wait`, return once every future has settled.

        Tasks keep running unless `cancel_futures` is true, which cancels the
        unfinished ones (one batched cancel).
        """
        self._shutdown = True
        if cancel_futures:
            with self._watcher.lock:
                unfinished = [f.task.id for f in self._watcher.pending.values() if not f.done()]
            if unfinished:
                cancel_tasks(self.root, unfinished)
        if wait:
            self._watcher.join()

    # -- helpers

    def _refuse_after_shutdown(self) -> None:
        if self._shutdown:
            raise RuntimeError("cannot schedule new calls after shutdown")

    def _target(self, fn: Callable[..., Any] | str) -> FunctionTarget:
        """How `fn` reaches the node, judged once per function and working directory."""
        key = (id(fn), str(Path.cwd()))
        with self._lock:
            found = self._targets.get(key)
            if found is None or found.function is not fn:
                found = FunctionTarget(self.root, fn, cwd=Path.cwd(), environment=self.environment)
                self._targets[key] = found
        return found

    def _spec_options(self) -> dict[str, Any]:
        return {
            "max_args_size": self.max_args_size,
            "resources": self.resources,
            "environment": self.environment,
            "envvars": self.envvars,
        }

    def _started(self, futures: Sequence[TaskFuture]) -> None:
        if self._batch is not None:
            self._batch.extend(futures)
        else:
            self._watcher.watch(futures)
