"""A pool worker: `python -m hipercow_workers.worker --redis URL [--idle-timeout S] ...`.

Started as an ordinary hipercow task (`hipercow worker start`), so its output
is that task's log. It registers in Redis, renews a heartbeat key from a
thread, reads its control messages from another (so the loop sees a stop or
a cancel before it starts any further task, without asking Redis each time),
and loops on one script call per task (`NEXT_SCRIPT`): release the tasks it
finished, pop and claim the queue's head; when the queue is empty it blocks
until it has something. While a Python task runs, the worker already claims
the next one (one task ahead, so the Redis call and the task overlap), and
gives it back to the head of the queue if the running task is not short. A
task runs only if its files still say it is due and the worker can create
its claim file, so a task queued twice never runs twice; its outcome goes to
the task files like any runner's.
Python expressions and calls in the worker's own environment run in a
long-lived executor process (`executor.py`), shell tasks and the rest
through the ordinary runner in a child process. Portable: child processes
through `subprocess`, no fork, no signals.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from hipercow_core import outcomes, pyexec
from hipercow_core.dependencies import Readiness, ended, readiness
from hipercow_core.errors import HipercowError
from hipercow_core.interpreters import task_python
from hipercow_core.jobs import fail_not_started, settle
from hipercow_core.log import get_logger
from hipercow_core.outcomes import Outcome
from hipercow_core.processes import kill_tree
from hipercow_core.root import Root, hostname
from hipercow_core.run import EXIT_TAKEN, node_name, task_environment
from hipercow_core.schema import RunningMarker, TaskData, TaskStatus
from hipercow_core.store import claim_running, file_status, log_path, read_task_data
from hipercow_workers import executor
from hipercow_workers.connection import REDIS_DOWN, connect
from hipercow_workers.keys import CANCEL, STOP, STOP_WHEN_IDLE, Keys, WorkerRecord
from hipercow_workers.resp import Pipeline, RedisError

log = get_logger(__name__)

#: How often a busy worker looks at the cancels it was sent: a cancel takes effect within this.
#: A task claimed ahead is given back once the running one has lasted this long.
CONTROL_POLL = 0.2
#: The longest single blocking pop, so an idle worker notices its idle timeout.
MAX_BLOCK = 1.0
#: A pause after putting back a task whose dependencies are still running.
REQUEUE_PAUSE = 0.05
IN_PROCESS_KINDS = frozenset({"python", "call"})
#: Seconds between attempts while Redis cannot be reached.
REDIS_RETRY = 1.0
DUE = frozenset({TaskStatus.CREATED, TaskStatus.SUBMITTED})


#: Release the finished tasks (ARGV[2], ids separated by spaces) and publish the worker's
#: record (ARGV[3]), then take the head of the queue, claiming it for worker ARGV[1].
#: Held tasks whose time has come (by Redis's clock) join the queue's tail first.
#: KEYS: queue, claims hash, workers hash, held set.
NEXT_SCRIPT = """
local now = redis.call('TIME')
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now[1] + now[2] / 1e6)
for _, task in ipairs(due) do
  redis.call('RPUSH', KEYS[1], task)
  redis.call('ZREM', KEYS[4], task)
end
for task in string.gmatch(ARGV[2], '%S+') do redis.call('HDEL', KEYS[2], task) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[3]) end
local task = redis.call('LPOP', KEYS[1])
if not task then return false end
if redis.call('HSETNX', KEYS[2], task, ARGV[1]) == 1 then return {'task', task} end
return {'taken', task}
"""


#: What the worker records for a task it saw end: the outcome, and a note in words.
Ended = tuple[Outcome, str | None]
#: A task another worker's runner had claimed: nothing to record.
Taken = Literal["taken"]
TAKEN: Taken = "taken"


@dataclass
class Settings:
    root: Root
    redis_url: str
    namespace: str
    heartbeat: float
    idle_timeout: float
    worker_id: str
    environment: str | None


def same_environment(a: str | None, b: str | None) -> bool:
    return (a or "empty") == (b or "empty")


class Executor:
    """The long-lived Python process that runs in-process tasks (see `executor.py`).

    It starts with `environ` (default: this process's variables), the
    environment the requests' `env` is mostly made of.
    """

    def __init__(self, python: str, environ: dict[str, str] | None = None) -> None:
        self.python = python
        self.environ = environ
        self.process: subprocess.Popen[bytes] | None = None
        self.answers: queue.Queue[str | None] = queue.Queue()

    def ensure(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            self.answers = queue.Queue()
            self.process = subprocess.Popen(
                [self.python, executor.__file__, pyexec.__file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self.environ,
            )
            threading.Thread(
                target=self._read, args=(self.process, self.answers), daemon=True
            ).start()
        return self.process

    @staticmethod
    def _read(process: subprocess.Popen[bytes], answers: queue.Queue[str | None]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            answers.put(line.decode("utf-8", errors="replace"))
        answers.put(None)  # the process is gone

    def send(self, request: dict[str, object]) -> None:
        """One JSON line (msgspec: the request is mostly the task's environment, 3 kB or so)."""
        process = self.ensure()
        assert process.stdin is not None
        process.stdin.write(msgspec.json.encode(request) + b"\n")
        process.stdin.flush()

    def kill(self) -> None:
        if self.process is not None:
            kill_tree(self.process.pid, grace=0.5)
            self.process.wait()
            self.process = None

    def close(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.root = settings.root
        self.keys = Keys(settings.namespace)
        self.redis = connect(settings.redis_url)
        self.id = settings.worker_id
        self.record = WorkerRecord(self.id, node_name(), os.getpid(), datetime.now(UTC))
        #: The variables tasks start from, copied once (see `task_environment`).
        self.environ = dict(os.environ)
        self.executor = Executor(task_python(settings.environment, self.root), self.environ)
        self.stopping = threading.Event()
        self.idle_timeout = settings.idle_timeout
        self.stop_after_task = False
        #: Tasks whose cancel arrived (set by the control thread).
        self.cancelled: set[str] = set()
        #: Tasks ended whose claims the next script call drops.
        self.released: list[str] = []
        #: A task claimed ahead, while the one before it ran.
        self.prefetched: str | None = None
        self._next = self.redis.script(NEXT_SCRIPT)

    # -- registration and heartbeat ------------------------------------------

    def publish(self, pipe: Pipeline | None = None) -> None:
        self.record.last_beat = datetime.now(UTC)
        target = pipe if pipe is not None else self.redis
        target.hset(self.keys.workers, self.id, msgspec.json.encode(self.record))

    def beat(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        ttl = max(1, round(self.s.heartbeat * 3 * 1000))
        pipe.set(self.keys.heartbeat(self.id), "1", px=ttl)
        self.publish(pipe)
        pipe.execute()

    def heartbeat_loop(self) -> None:
        while not self.stopping.wait(self.s.heartbeat):
            try:
                self.beat()
            except RedisError as e:
                log.warning("heartbeat failed", worker=self.id, error=str(e))

    def control_loop(self) -> None:
        """Read control messages as they come (a blocking pop on its own connection)."""
        key = self.keys.control(self.id)
        while not self.stopping.is_set():
            try:
                item = self.redis.blpop([key], timeout=MAX_BLOCK)
            except REDIS_DOWN as e:  # the main loop says so; messages wait for Redis
                log.warning("cannot read control messages", worker=self.id, error=str(e))
                self.stopping.wait(REDIS_RETRY)
                continue
            if item is not None:
                self.on_control(_text(item[1]))

    # -- the main loop --------------------------------------------------------

    def serve(self) -> int:
        self.executor.ensure()  # its interpreter starts while the worker registers
        self.beat()
        print(f"worker {self.id} started on {self.record.host} (pid {os.getpid()})", flush=True)
        threading.Thread(target=self.heartbeat_loop, daemon=True).start()
        threading.Thread(target=self.control_loop, daemon=True).start()
        idle_since = time.monotonic()
        try:
            while not self.stop_after_task:
                if self.prefetched is not None:
                    kind, value = "task", self.prefetched
                    self.prefetched = None
                else:
                    try:
                        kind, value = self.next_item()
                    except REDIS_DOWN as e:
                        # Redis restarted or cannot be reached: the task files keep
                        # everything, so wait for it and go on (idle time counts on).
                        self.redis_down(e)
                        kind, value = "down", ""
                if kind == "task":
                    done = self.run_if_due(value)
                    if done != "requeued":
                        self.released.append(value)
                    if done == "ran":
                        idle_since = time.monotonic()
                elif kind in ("empty", "down"):
                    if time.monotonic() - idle_since >= self.idle_timeout:
                        print(
                            f"worker {self.id}: idle for {self.idle_timeout:g}s, exiting",
                            flush=True,
                        )
                        break
                    if kind == "empty":
                        remaining = self.idle_timeout - (time.monotonic() - idle_since)
                        self.wait_for_queue(min(remaining, MAX_BLOCK))
        finally:
            self.exit()
        return 0

    def redis_down(self, error: Exception) -> None:
        print(f"worker {self.id}: Redis cannot be reached ({error}); retrying", flush=True)
        time.sleep(REDIS_RETRY)

    def next_item(self) -> tuple[str, str]:
        """Release the tasks ended since the last call and take the next task, in one call.

        Returns ("task", id) for a task now claimed by this worker, ("taken",
        id) for one another worker holds (queued twice), or ("empty", "").
        """
        record = msgspec.json.encode(self.record) if self.released else b""
        answer = self._next(
            keys=[self.keys.queue, self.keys.claims, self.keys.workers, self.keys.held],
            args=[self.id, " ".join(self.released), record],
        )
        self.released = []
        if not answer:
            return "empty", ""
        return _text(answer[0]), _text(answer[1])

    def prefetch(self) -> None:
        """Claim the next task while this one runs, unless the worker is to stop after it."""
        if self.prefetched is not None or self.stop_after_task:
            return
        try:
            kind, value = self.next_item()
        except REDIS_DOWN:  # the main loop finds out and waits for Redis
            return
        if kind == "task":
            self.prefetched = value

    def give_back(self) -> None:
        """Put the task claimed ahead back at the head of the queue, for an idle worker.

        It was never started (no claim file), so whoever takes it runs it once.
        """
        task_id = self.prefetched
        if task_id is None:
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys.claims, task_id)
        pipe.lpush(self.keys.queue, task_id)
        try:
            pipe.execute()
        except REDIS_DOWN:  # keep it: this worker runs it next
            return
        self.prefetched = None

    def wait_for_queue(self, timeout: float) -> None:
        """Block until the queue has something (or `timeout`), leaving it in place.

        Moving the head of the queue back onto its own head is atomic, so a
        worker never holds a task it has not claimed; the claim is made by
        `next_item`.
        """
        queue = self.keys.queue
        try:
            self.redis.blmove(queue, queue, ("LEFT", "LEFT"), max(0.01, timeout))
        except REDIS_DOWN as e:
            self.redis_down(e)

    def exit(self) -> None:
        self.stopping.set()
        self.executor.close()
        self.give_back()
        self.record.state = "exited"
        pipe = self.redis.pipeline(transaction=False)
        if self.released:
            pipe.hdel(self.keys.claims, *self.released)
        self.publish(pipe)
        pipe.delete(self.keys.heartbeat(self.id))
        try:
            pipe.execute()
        except REDIS_DOWN as e:  # its heartbeat expires by itself
            print(f"worker {self.id}: could not record that it exited ({e})", flush=True)
        print(f"worker {self.id} exited after {self.record.done} tasks", flush=True)

    def on_control(self, message: str) -> None:
        verb, _, argument = message.partition(" ")
        if verb == STOP:
            self.stop_after_task = True
        elif verb == STOP_WHEN_IDLE:
            self.idle_timeout = 0.0
        elif verb == CANCEL:
            self.cancelled.add(argument)

    def _requeue_waiting(self, task_id: str) -> Literal["requeued"]:
        """Put a task whose dependencies have not ended back at the queue's end, unclaimed."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys.claims, task_id)
        pipe.rpush(self.keys.queue, task_id)
        try:
            pipe.execute()
        except REDIS_DOWN as e:  # 'hipercow worker requeue' puts it back
            self.redis_down(e)
        time.sleep(REQUEUE_PAUSE)
        return "requeued"

    def run_if_due(self, task_id: str) -> Literal["ran", "skipped", "requeued"]:
        """Run a claimed task unless it is done, cancelled, or waiting on dependencies.

        A task whose dependencies are still running goes back to the end of
        the queue, its claim dropped in the same call.
        """
        try:
            # `created`: core writes the `submitted` marker just after the push.
            if file_status(self.root, task_id) not in DUE:
                return "skipped"  # cancelled, already run, or queued twice
            data = read_task_data(self.root, task_id)
        except HipercowError as e:
            print(f"worker {self.id}: skipping task {task_id}: {e.message}", flush=True)
            return "skipped"
        if data.after_any and not ended(self.root, data.after_any):
            return self._requeue_waiting(task_id)
        if data.depends_on:
            state = readiness(self.root, data.depends_on)
            if state == Readiness.FAILED:
                fail_not_started(self.root, task_id)
                return "skipped"
            if state == Readiness.WAITING:
                return self._requeue_waiting(task_id)
        outcome: Ended | Taken | None
        if self.in_process(data):
            if not self.claim(data):
                return "skipped"  # another worker took it (queued twice, e.g. after a requeue)
            outcome = self.run_in_process(data)
        else:
            outcome = self.run_child(data)  # its runner makes the claim
        if outcome == TAKEN:
            return "skipped"
        if outcome is not None:
            settle(self.root, task_id, *outcome)
        self.record.done += 1
        return "ran"

    # -- running one task -----------------------------------------------------

    def in_process(self, data: TaskData) -> bool:
        """Whether the task runs in the executor (Python in the worker's environment)."""
        return data.kind in IN_PROCESS_KINDS and same_environment(
            data.environment, self.s.environment
        )

    def claim(self, data: TaskData) -> bool:
        """Take an in-process task for good by writing its running marker, once, naming this worker.

        The marker is the claim that survives Redis: a task queued twice, or
        queued again after Redis lost its data, runs once. It names the
        executor that runs the task. A task run through the runner is
        claimed the same way by that runner (`--claim-for`), so its marker
        names the runner's process from the start.
        """
        pid = self.executor.ensure().pid
        return claim_running(
            self.root, data.id, RunningMarker(_now(), self.record.host, pid, worker=self.id)
        )

    def deadline(self, data: TaskData) -> float | None:
        minutes = data.resources.max_runtime
        return None if minutes is None else time.monotonic() + minutes * 60

    def poll_control(self, task_id: str) -> str | None:
        """ "cancel" if a cancel of this task has arrived."""
        return "cancel" if task_id in self.cancelled else None

    def run_in_process(self, data: TaskData) -> Ended | None:
        task_id = data.id
        try:
            env = task_environment(self.root, data, base=self.environ)
        except HipercowError as e:
            self._log(task_id, f"hipercow: {e.message}\n")
            return outcomes.failure(outcomes.ENVIRONMENT, 1), e.message
        process = self.executor.ensure()
        self.executor.send(
            {
                "root": str(self.root.project),
                "task_id": task_id,
                "cwd": str(self.root.project / data.path),
                "env": env,
                "log": str(log_path(self.root, task_id)),
            }
        )
        deadline = self.deadline(data)
        self.prefetch()
        while True:
            try:
                answer = self.executor.answers.get(timeout=CONTROL_POLL)
            except queue.Empty:
                self.give_back()  # not a short task: an idle worker may take the next one
                stop = self.poll_control(task_id) or _timed_out(deadline)
                if stop is not None:
                    self.executor.kill()
                    return _stopped(stop, f"worker {self.id} stopped its Python process")
                continue
            if answer is None:
                code = process.wait()
                self.executor.process = None
                self._log(task_id, f"hipercow: the task's Python process exited ({code})\n")
                reason = outcomes.signal_reason(-code) if code < 0 else None
                note = f"its Python process {process.pid} on worker {self.id} exited with {code}"
                return Outcome(TaskStatus.FAILURE, reason, code), note
            code = int(json.loads(answer)["code"])
            status = TaskStatus.SUCCESS if code == 0 else TaskStatus.FAILURE
            return Outcome(status, None, code), None

    def run_child(self, data: TaskData) -> Ended | Taken | None:
        """Shell tasks and the rest: the ordinary runner in a child process, which claims the task.

        `TAKEN` if its runner found the task claimed already (queued twice).
        """
        task_id = data.id
        command = [
            *(sys.executable, "-m", "hipercow_core.run", "--root", str(self.root.project)),
            *("--claim-for", self.id),
        ]
        with log_path(self.root, task_id).open("ab") as task_log:
            process = subprocess.Popen(
                [*command, task_id],
                cwd=self.root.project,
                stdin=subprocess.DEVNULL,
                stdout=task_log,
                stderr=task_log,
            )
        deadline = self.deadline(data)
        while True:
            try:
                code = process.wait(timeout=CONTROL_POLL)
                break
            except subprocess.TimeoutExpired:
                stop = self.poll_control(task_id) or _timed_out(deadline)
                if stop is not None:
                    kill_tree(process.pid, grace=0.5)
                    process.wait()
                    return _stopped(stop, f"worker {self.id} stopped runner {process.pid}")
        if code == EXIT_TAKEN:
            return TAKEN
        if file_status(self.root, task_id).is_terminal:
            return None
        how = outcomes.signal_reason(-code) if code < 0 else f"exited with code {code}"
        note = f"lost: runner process {process.pid} on worker {self.id} {how} without an outcome"
        return outcomes.failure(outcomes.LOST, code), note

    def _log(self, task_id: str, text: str) -> None:
        with log_path(self.root, task_id).open("ab") as f:
            f.write(text.encode())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> datetime:
    return datetime.now(UTC)


def _timed_out(deadline: float | None) -> str | None:
    return "timeout" if deadline is not None and time.monotonic() > deadline else None


def _stopped(why: str, how: str) -> Ended | None:
    """What to record for a task the worker stopped: nothing for a cancel (core records it)."""
    if why == "cancel":
        return None
    return outcomes.failure(outcomes.TIMED_OUT), f"timed out (--max-runtime): {how}"


def parse(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m hipercow_workers.worker")
    parser.add_argument("--redis", required=True, help="the pool's Redis URL")
    parser.add_argument("--namespace", help="the root's key prefix (default: from the root)")
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--idle-timeout", type=float, default=600.0)
    parser.add_argument("--id", help="this worker's id (default: its hipercow task id)")
    parser.add_argument("--environment", help="the environment it runs Python tasks in")
    parser.add_argument("--root", type=Path, help="the project (default: $HIPERCOW_ROOT)")
    args = parser.parse_args(argv)
    from hipercow_workers.keys import namespace

    root = Root.find(args.root) if args.root else Root.find()
    task_id = os.environ.get("HIPERCOW_TASK_ID")
    environment = args.environment
    if environment is None and task_id:
        environment = read_task_data(root, task_id).environment
    return Settings(
        root=root,
        redis_url=args.redis,
        namespace=args.namespace or namespace(root),
        heartbeat=args.heartbeat,
        idle_timeout=args.idle_timeout,
        worker_id=args.id or task_id or f"{hostname()}-{secrets.token_hex(4)}",
        environment=environment,
    )


def main(argv: list[str] | None = None) -> int:
    settings = parse(sys.argv[1:] if argv is None else argv)
    return Worker(settings).serve()


def run(argv: list[str]) -> None:
    """A worker as a `call` task (see `hipercow_workers.pool`): its exit code is its outcome."""
    code = main(argv)
    if code != 0:
        raise SystemExit(code)


if __name__ == "__main__":
    sys.exit(main())
