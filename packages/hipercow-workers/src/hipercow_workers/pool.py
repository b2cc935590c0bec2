"""Managing the pool: starting workers as hipercow tasks, their states, stopping them.

Workers are ordinary tasks submitted through a cluster driver (local, slurm,
windows-hpc) as one bundle, so every task and bundle command works on them;
a worker's id is its task id and its log is that task's log. The CLI
(`hipercow_workers.cli`) renders what these functions return.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from hipercow_core.bundles import bundle_path, replace_bundle, save_bundle
from hipercow_core.drivers.registry import DEFAULT_DRIVER, get_driver
from hipercow_core.errors import InvalidInputError
from hipercow_core.root import Root
from hipercow_core.schema import Resources, TaskStatus
from hipercow_core.store import task_exists
from hipercow_core.tasks import TaskSpec, create_tasks, submit_with
from hipercow_workers import rebuild
from hipercow_workers.connection import guarded
from hipercow_workers.driver import WorkersDriver
from hipercow_workers.keys import STOP, STOP_WHEN_IDLE, WorkerRecord, WorkerState, decode_record

DRIVER_NAME = WorkersDriver.name


def pool_driver(root: Root) -> WorkersDriver:
    """The configured workers driver of this machine (its Redis and heartbeat)."""
    driver = get_driver(root, DRIVER_NAME)
    assert isinstance(driver, WorkersDriver)
    return driver


def cluster_driver_name(root: Root, wanted: str | None) -> str:
    """The driver that runs the workers: the one asked for, else the default cluster driver.

    Configuring `workers` makes it the default for tasks, so the workers
    themselves go to the most recently configured other driver, else `local`.
    """
    if wanted == DRIVER_NAME:
        raise InvalidInputError(
            "workers cannot run as tasks of the worker pool itself",
            "Pick a cluster driver with --driver (local, slurm, windows-hpc).",
        )
    if wanted is not None:
        return wanted
    config = root.machine_config()
    if config.default is not None and config.default != DRIVER_NAME:
        return config.default
    others = [e.name for e in config.drivers if e.name != DRIVER_NAME]
    return others[-1] if others else DEFAULT_DRIVER


def worker_command(driver: WorkersDriver, idle_timeout: float) -> tuple[str, ...]:
    return (
        sys.executable,
        "-m",
        "hipercow_workers.worker",
        "--redis",
        driver.options.redis_url,
        "--namespace",
        driver.keys.prefix.split(":")[1],
        "--heartbeat",
        f"{driver.options.heartbeat:g}",
        "--idle-timeout",
        f"{idle_timeout:g}",
    )


@dataclass(frozen=True)
class Started:
    bundle: str
    worker_ids: list[str]
    driver: str


def start_workers(
    root: Root,
    count: int,
    *,
    driver: str | None = None,
    resources: Resources | None = None,
    environment: str | None = None,
    idle_timeout: float = 600.0,
    name: str | None = None,
) -> Started:
    """Submit `count` worker tasks as one bundle through a cluster driver."""
    if count < 1:
        raise InvalidInputError("give at least 1 worker", "e.g. 'hipercow worker start 2'.")
    if idle_timeout < 0:
        raise InvalidInputError("--idle-timeout cannot be negative", "e.g. --idle-timeout 10m.")
    pool = pool_driver(root)
    guarded(pool.options.redis_url, pool.redis.ping)  # fail before any task is made
    cluster = cluster_driver_name(root, driver)
    command = worker_command(pool, idle_timeout)
    reserved = save_bundle(root, [], name, command)
    spec = TaskSpec(
        command=command,
        resources=resources or Resources(),
        environment=environment,
        bundle=reserved.name,
    )
    try:
        ids = create_tasks(root, [spec] * count, driver=cluster, submit=False)
    except BaseException:
        bundle_path(root, reserved.name).unlink(missing_ok=True)
        raise
    replace_bundle(root, msgspec.structs.replace(reserved, task_ids=tuple(ids)))
    submit_with(root, get_driver(root, cluster), ids)
    return Started(reserved.name, ids, cluster)


@dataclass(frozen=True)
class Registration:
    """How far a start has got: registered workers, those still coming, those that failed."""

    registered: list[str]
    waiting: int
    running: int
    failed: dict[str, TaskStatus]

    @property
    def settled(self) -> bool:
        return self.waiting == 0 and self.running == 0


def registrations(
    root: Root, worker_ids: Sequence[str], *, timeout: float, poll: float = 0.2
) -> Iterator[Registration]:
    """Progress of the workers' start, until all registered or failed, or `timeout` passed."""
    from hipercow_core.tasks import tasks_status

    pool = pool_driver(root)
    deadline = time.monotonic() + timeout
    while True:
        known = set(records(pool))
        statuses = tasks_status(root, [w for w in worker_ids if w not in known])
        registered = [w for w in worker_ids if w in known]
        failed = {w: s for w, s in statuses.items() if s.is_terminal and w not in known}
        running = sum(s == TaskStatus.RUNNING for s in statuses.values())
        waiting = len(worker_ids) - len(registered) - len(failed) - running
        state = Registration(registered, waiting, running, failed)
        yield state
        if state.settled or time.monotonic() > deadline:
            return
        time.sleep(poll)


def records(pool: WorkersDriver) -> dict[str, WorkerRecord]:
    raw = guarded(pool.options.redis_url, lambda: pool.redis.hgetall(pool.keys.workers))
    return {(k.decode() if isinstance(k, bytes) else k): decode_record(v) for k, v in raw.items()}


@dataclass(frozen=True)
class WorkerRow:
    """One worker as `hipercow worker status` shows it."""

    id: str
    host: str
    pid: int
    state: WorkerState
    task: str | None
    done: int
    last_beat: datetime | None
    started: datetime


def worker_rows(root: Root) -> list[WorkerRow]:
    """Every worker the pool has known, oldest first; a silent one is `lost`."""
    pool = pool_driver(root)

    def read() -> tuple[dict[str, WorkerRecord], list[int], dict[bytes, bytes]]:
        found = records(pool)
        pipe = pool.redis.pipeline(transaction=False)
        for worker_id in found:
            pipe.exists(pool.keys.heartbeat(worker_id))
        pipe.hgetall(pool.keys.claims)
        *alive, claims = pipe.execute()
        return found, alive, claims

    found, alive, claims = guarded(pool.options.redis_url, read)
    running = {worker.decode(): task.decode() for task, worker in claims.items()}
    rows = []
    for (worker_id, record), beating in zip(found.items(), alive, strict=True):
        task = running.get(worker_id)
        state: WorkerState = record.state
        if state != "exited" and not beating:
            state = "lost"
        elif state == "idle" and task is not None:
            state = "busy"
        rows.append(
            WorkerRow(
                worker_id,
                record.host,
                record.pid,
                state,
                task if state in ("busy", "lost") else None,
                record.done,
                record.last_beat,
                record.started,
            )
        )
    return sorted(rows, key=lambda r: r.started)


def stop_workers(
    root: Root, worker_ids: Sequence[str] = (), *, when_idle: bool = False
) -> list[str]:
    """Ask workers (all live ones by default) to stop: after their task, or once idle."""
    rows = {r.id: r for r in worker_rows(root)}
    for worker_id in worker_ids:
        if worker_id not in rows:
            raise InvalidInputError(
                f"no worker '{worker_id}' in the pool", "See 'hipercow worker status'."
            )
    chosen = list(worker_ids) or [r.id for r in rows.values() if r.state in ("idle", "busy")]
    chosen = [w for w in chosen if rows[w].state in ("idle", "busy")]
    pool = pool_driver(root)
    message = STOP_WHEN_IDLE if when_idle else STOP

    def send() -> None:
        pipe = pool.redis.pipeline(transaction=False)
        for worker_id in chosen:
            pipe.rpush(pool.keys.control(worker_id), message)
        pipe.execute()

    if chosen:
        guarded(pool.options.redis_url, send)
    return chosen


def requeue(root: Root) -> list[str]:
    """Put back on the queue the pool's tasks that the files say still wait to run.

    The driver does this by itself when it finds that Redis lost its data
    (`hipercow_workers.rebuild`); this is the same, asked for by hand. Safe
    to run at any time: a task queued twice still runs once.
    """
    pool = pool_driver(root)
    return guarded(pool.options.redis_url, lambda: rebuild.requeue(root, pool.redis, pool.keys))


def worker_task(root: Root, worker_id: str) -> str:
    """The task id behind a worker (they are the same), checked to exist."""
    if not task_exists(root, worker_id):
        raise InvalidInputError(
            f"worker '{worker_id}' is not a hipercow task of this project",
            "Workers started by hand have no task log; see 'hipercow worker status'.",
        )
    return worker_id


def since(value: datetime | None) -> float | None:
    return None if value is None else (datetime.now(UTC) - value).total_seconds()
