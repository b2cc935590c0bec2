"""The `workers` driver: tasks go to a pool of long-lived workers through a Redis list.

Submitting pushes task ids onto the pool's queue (first in, first out); idle
workers pop them (`hipercow_workers.worker`). A task's job id is its task id.
Workers record outcomes in the task files like any runner, so this driver's
status check only has to find tasks whose worker died: one Lua script call
looks up, for every active task, the worker that took it and whether that
worker's heartbeat key still exists. Both submit and status also notice a
Redis that lost its data (no queue marker) and rebuild the queue from the
files first (`hipercow_workers.rebuild`).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

import msgspec

from hipercow_core import outcomes
from hipercow_core.drivers.protocol import (
    CancelReport,
    DependencyStyle,
    Driver,
    DriverFactory,
    JobRequest,
    JobState,
    SubmitReport,
    task_file,
)
from hipercow_core.errors import CorruptFileError, HipercowWarning
from hipercow_core.fsutil import read_bytes
from hipercow_core.root import Root
from hipercow_core.schema import ClusterInfo, NodeInfo
from hipercow_core.store import read_running
from hipercow_workers import rebuild
from hipercow_workers.connection import connect, guarded
from hipercow_workers.keys import CANCEL, DRIVER_NAME, Keys, decode_record, namespace

OUTER_LOG = "workers.log"

#: For each task id in ARGV[2..]: "" if no worker took it, else "+id" (alive) or "-id" (gone);
#: then the number of workers whose heartbeat is alive, then 1 if the queue's marker is set
#: (0: Redis lost its data). KEYS: claims, workers, marker; ARGV[1]: the heartbeat key prefix.
_STATUS_SCRIPT = """
local out = {}
for i = 2, #ARGV do
  local worker = redis.call('HGET', KEYS[1], ARGV[i])
  if not worker then
    out[#out + 1] = ''
  elseif redis.call('EXISTS', ARGV[1] .. worker) == 1 then
    out[#out + 1] = '+' .. worker
  else
    out[#out + 1] = '-' .. worker
  end
end
local alive = 0
for _, worker in ipairs(redis.call('HKEYS', KEYS[2])) do
  alive = alive + redis.call('EXISTS', ARGV[1] .. worker)
end
out[#out + 1] = tostring(alive)
out[#out + 1] = tostring(redis.call('EXISTS', KEYS[3]))
return out
"""


class NoWorkersWarning(HipercowWarning):
    """Tasks are queued for the pool but no worker is alive to run them."""


class QueueRebuiltWarning(HipercowWarning):
    """Redis had lost the pool's queue, and waiting tasks were queued again from their files."""


class WorkersOptions(msgspec.Struct, forbid_unknown_fields=True):
    """`redis_url`: the pool's Redis; `heartbeat`: seconds between a worker's heartbeats.

    A worker whose heartbeat has not been renewed for three periods is gone,
    and so is the task it was running.
    """

    redis_url: str = "redis://127.0.0.1:6379"
    heartbeat: float = 5.0


def append_outer_log(root: Root, task_id: str, line: str) -> None:
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
    with task_file(root, task_id, OUTER_LOG).open("a", encoding="utf-8") as f:
        f.write(f"{stamp} {line}\n")


class WorkersDriver(Driver[WorkersOptions]):
    """Hands tasks to the pool's workers through Redis; core keeps the files."""

    name: ClassVar[str] = DRIVER_NAME
    options_type: ClassVar[type[msgspec.Struct]] = WorkersOptions
    dependencies: ClassVar[DependencyStyle] = "files"
    #: Outcomes come from the task files, which waits read every 0.2 s; asking Redis only
    #: finds tasks whose worker died, and costs a script looping over every waiting task,
    #: so a wait on 1,000 pool tasks asks at most every 2 s.
    max_poll_interval: ClassVar[float] = 2.0

    def __init__(self, root: Root, options: WorkersOptions) -> None:
        self.root = root
        self.options = options
        self.keys = Keys(namespace(root))
        self.redis = connect(options.redis_url)
        self._status_script = self.redis.script(_STATUS_SCRIPT)

    def describe(self) -> dict[str, str]:
        """Whether the pool's Redis answers now."""
        try:
            self.redis.ping()
        except Exception as e:  # what is wrong is what this says
            return {"redis": f"{self.options.redis_url} does not answer ({type(e).__name__}: {e})"}
        return {"redis": f"{self.options.redis_url} answers"}

    def submit(self, requests: Sequence[JobRequest]) -> SubmitReport:
        """Push the tasks onto the queue in order, in one call; held ones wait in a sorted set.

        Workers move a held task to the queue once its time has come. If
        Redis has lost its data since the last command, the queue is rebuilt
        from the files first (the tasks pushed here are not `submitted` yet,
        so the rebuild leaves them be).
        """
        ready = [r.task_id for r in requests if r.not_before is None]
        held = {r.task_id: r.not_before.timestamp() for r in requests if r.not_before is not None}

        def push() -> bool:
            pipe = self.redis.pipeline(transaction=False)
            pipe.exists(self.keys.marker)
            if ready:
                pipe.rpush(self.keys.queue, *ready)
            if held:
                pipe.zadd(self.keys.held, held)
            whole, *_ = pipe.execute()
            return bool(whole)

        if not guarded(self.options.redis_url, push):
            self._rebuild()
        for request in requests:
            if request.not_before is not None:
                when = request.not_before.astimezone().strftime("%Y-%m-%d %H:%M")
                append_outer_log(self.root, request.task_id, f"held for the pool until {when}")
        return SubmitReport(accepted={r.task_id: r.task_id for r in requests})

    def status(self, jobs: Mapping[str, str]) -> dict[str, JobState]:
        """Tasks whose worker stopped heartbeating are lost; the rest are still active."""
        ids = list(jobs)
        prefix = self.keys.heartbeat("")
        answer = guarded(
            self.options.redis_url,
            lambda: self._status_script(
                keys=[self.keys.claims, self.keys.workers, self.keys.marker], args=[prefix, *ids]
            ),
        )
        *claims, alive, whole = (a.decode() if isinstance(a, bytes) else str(a) for a in answer)
        if whole == "0":
            self._rebuild()
        result: dict[str, JobState] = {}
        unclaimed = 0
        never_started = []
        lost: dict[str, str] = {}
        for task_id, claim in zip(ids, claims, strict=True):
            if claim.startswith("-") and rebuild.claimed(self.root, task_id):
                lost[task_id] = claim[1:]
            else:
                if claim.startswith("-"):  # taken by a worker that died before it started it
                    never_started.append(task_id)
                unclaimed += claim == ""
                result[task_id] = JobState.active()
        for task_id, note in self._lost_notes(lost).items():
            result[task_id] = JobState.ended(outcomes.failure(outcomes.LOST), note)
        if never_started:
            self._give_back(never_started)
        if unclaimed and int(alive) == 0:
            tasks = "1 task is" if unclaimed == 1 else f"{unclaimed} tasks are"
            warnings.warn(
                NoWorkersWarning(
                    f"{tasks} queued for the worker pool but no worker is alive; "
                    "start some with 'hipercow worker start N'"
                ),
                stacklevel=2,
            )
        return result

    def _lost_notes(self, lost: Mapping[str, str]) -> dict[str, str]:
        """For each task lost with its worker: that worker, its process, and the task's process.

        The task's process is the one its running marker names: the executor
        or runner that ran it, or the worker itself in the moment between
        taking a task and starting its runner.
        """
        if not lost:
            return {}
        workers = sorted(set(lost.values()))
        raw = guarded(self.options.redis_url, lambda: self.redis.hmget(self.keys.workers, workers))
        pids = {w: decode_record(r).pid for w, r in zip(workers, raw, strict=True) if r}
        notes = {}
        for task_id, worker in lost.items():
            pid = f" (pid {pids[worker]})" if worker in pids else ""
            notes[task_id] = f"lost: worker {worker}{pid} stopped heartbeating while running it"
            with contextlib.suppress(CorruptFileError, OSError):
                running = read_running(self.root, task_id)
                if running is not None and running.pid != pids.get(worker):
                    notes[task_id] += f" in process {running.pid} on {running.host}"
        return notes

    def _rebuild(self) -> None:
        """Redis lost its data: queue again, from the files, every task still waiting."""
        again = guarded(
            self.options.redis_url, lambda: rebuild.requeue(self.root, self.redis, self.keys)
        )
        if again:
            tasks = "1 task" if len(again) == 1 else f"{len(again)} tasks"
            warnings.warn(
                QueueRebuiltWarning(
                    f"the worker pool's Redis had lost its queue (restarted empty?); "
                    f"{tasks} waiting to run were queued again from the task files"
                ),
                stacklevel=3,
            )

    def _give_back(self, task_ids: list[str]) -> None:
        """Put tasks a dead worker took but never started back at the head of the queue.

        Another worker may take them at once; if the first one was only slow,
        not dead, the claim file lets just one of them run it.
        """

        def push() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(self.keys.claims, *task_ids)
            pipe.lpush(self.keys.queue, *reversed(task_ids))
            pipe.execute()

        guarded(self.options.redis_url, push)

    def cancel(self, jobs: Mapping[str, str]) -> CancelReport:
        """Take queued tasks off the queue; tell the worker running one to stop it."""
        ids = list(jobs)
        url = self.options.redis_url

        def remove() -> None:
            pipe = self.redis.pipeline(transaction=False)
            for task_id in ids:
                pipe.lrem(self.keys.queue, 0, task_id)
            pipe.zrem(self.keys.held, *ids)
            pipe.hmget(self.keys.claims, ids)
            *_, claims = pipe.execute()
            running = {
                task_id: worker.decode()
                for task_id, worker in zip(ids, claims, strict=True)
                if worker is not None
            }
            if running:
                pipe = self.redis.pipeline(transaction=False)
                for task_id, worker in running.items():
                    pipe.rpush(self.keys.control(worker), f"{CANCEL} {task_id}")
                pipe.execute()

        guarded(url, remove)
        # Whether queued, running or between the two, the task stops: a worker
        # runs only tasks whose files still say `submitted`, and stops a
        # running one when its control message arrives.
        for task_id in ids:
            append_outer_log(self.root, task_id, "cancelled")
        return CancelReport(stopped=set(ids))

    def outer_log(self, task_id: str, job_id: str | None) -> str | None:
        """What the pool did with the task: held, taken by which worker, cancelled.

        The worker that takes a Python task writes no line of its own (no
        write more per task): the running marker it wrote as its claim
        names it, and its line is made from that.
        """
        lines = []
        raw = read_bytes(task_file(self.root, task_id, OUTER_LOG))
        if raw is not None:
            lines.append(raw.decode(errors="replace"))
        with contextlib.suppress(CorruptFileError):
            running = read_running(self.root, task_id)
            if running is not None and running.worker is not None:
                stamp = running.time.astimezone()
                lines.append(f"{stamp:%Y-%m-%d %H:%M:%S} started by worker {running.worker}\n")
        return "".join(lines) or None

    def cluster_info(self) -> ClusterInfo:
        """The pool as one node: a worker runs one task at a time on its cores."""
        import psutil

        cores = os.cpu_count() or 1
        memory = psutil.virtual_memory().total // 1_000_000
        return ClusterInfo(
            name="workers",
            driver=self.name,
            max_cores=cores,
            max_memory=memory,
            nodes=(NodeInfo(name="workers", cores=cores, memory=memory),),
            extra={"redis_url": self.options.redis_url},
        )


if TYPE_CHECKING:
    _checked: DriverFactory[WorkersOptions] = WorkersDriver
