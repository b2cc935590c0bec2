"""Provisioning an environment of a hipercow root, as a job on whatever driver is configured.

`start_provision` claims the environment (refusing clearly if another attempt
holds it), records the request, and creates a hipercow task that runs
`hipercow_provision.job:run` with hipercow's own interpreter on the node: a
`call` task in the `empty` environment, so it goes through every driver the
same way, its log can be followed live, and it never runs inside the
environment it is building. A driver with a build queue (its `build_queue()`,
e.g. the portal's build queue or a Slurm build partition) gets the job sent
there.

Reading the history reconciles attempts whose job finished without a result
(cancelled, killed, lost): they are recorded as cancelled or failed, never as
a success.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from hipercow_core.environment_use import provisioning_active, tasks_using
from hipercow_core.environments import EMPTY, history_dir, load_engine, read_environment
from hipercow_core.errors import (
    DriverError,
    HipercowError,
    InvalidInputError,
    TaskNotFoundError,
)
from hipercow_core.root import Root, hostname
from hipercow_core.schema import (
    AttemptStatus,
    EnvironmentRecord,
    ProvisionAttempt,
    ProvisionInputs,
    ProvisionResult,
    ProvisionRunning,
    Resources,
    TaskStatus,
)
from hipercow_provision import history as hist
from hipercow_provision.history import HistoryEntry, HistoryStore, ProvisionBusyError
from hipercow_provision.inputs import (
    LOCK_FILE,
    InputsChecker,
    from_lock,
    inputs_hash,
    select_inputs,
)

JOB_TARGET = "hipercow_provision.job:run"
# How long after its job stopped a reader waits for the job's own result.
RESULT_GRACE = timedelta(seconds=15)


class ProvisionStarted(msgspec.Struct, frozen=True):
    """A submitted attempt: follow `task_id`'s log, then read the outcome of `attempt`."""

    environment: str
    attempt: str
    task_id: str
    busy_tasks: tuple[str, ...] = ()


def store_for(root: Root, name: str) -> HistoryStore:
    return HistoryStore(history_dir(root, name))


def buildable(root: Root, name: str) -> EnvironmentRecord:
    """The environment's record, refusing environments with nothing to build."""
    record = read_environment(root, name)
    if not load_engine(record.engine).needs_build:
        raise InvalidInputError(
            f"environment '{name}' uses the '{record.engine}' engine: there is nothing to provision",
            "Tasks in it run with hipercow's own Python. "
            "Create an environment with '--engine uv' (or pip) to install packages.",
        )
    return record


def task_reconciler(root: Root, store: HistoryStore) -> hist.Reconciler:
    """Decide unfinished attempts from their job's status (asking its driver, batched)."""
    from hipercow_core.tasks import task_info

    def decide(attempt: ProvisionAttempt) -> ProvisionResult | AttemptStatus:
        if attempt.task_id is None:
            running = store.read_running()
            if running is not None and running.attempt == attempt.id:
                return "queued"
            return hist.lost_result(attempt, "the provisioning job was never submitted")
        try:
            info = task_info(root, attempt.task_id)
        except TaskNotFoundError:
            return hist.lost_result(attempt, f"its job, task {attempt.task_id}, was deleted")
        if info.status == TaskStatus.CREATED:
            running = store.read_running()
            if running is not None and running.attempt == attempt.id:
                return "queued"
            return hist.lost_result(attempt, "the provisioning job was never submitted")
        if info.status == TaskStatus.SUBMITTED:
            return "queued"
        if info.status == TaskStatus.RUNNING:
            return "running"
        late = _late_result(store, attempt, info.times.started, info.times.finished)
        if late is not None:
            return late
        _copy_task_log(root, store, attempt)
        if info.status == TaskStatus.CANCELLED:
            return hist.lost_result(attempt, "the provisioning job was cancelled", "cancelled")
        detail = f"task {attempt.task_id} ended '{info.status}'"
        if info.reason:
            detail += f" ({info.reason})"
        return hist.lost_result(
            attempt, f"the provisioning job stopped without recording an outcome: {detail}"
        )

    return decide


def _late_result(
    store: HistoryStore,
    attempt: ProvisionAttempt,
    started: datetime | None,
    finished: datetime | None,
) -> ProvisionResult | None:
    """Give a job that was just stopped a moment to record its own outcome.

    A cancel writes the task's terminal marker before it signals the job, and
    the job then records a fuller result (the packages it left) than a reader
    could. Only a job that started and finished moments ago is waited for.
    """
    if started is None or finished is None:
        return None
    deadline = finished + RESULT_GRACE
    while datetime.now(UTC) < deadline:
        result = store.read_result(attempt.id)
        if result is not None:
            return result
        time.sleep(0.2)
    return store.read_result(attempt.id)


def _copy_task_log(root: Root, store: HistoryStore, attempt: ProvisionAttempt) -> None:
    """Keep the job's own log with the attempt when the build never wrote one."""
    from hipercow_core.tasks import task_log

    path = store.log_path(attempt.id)
    if attempt.task_id is None or (path.exists() and path.stat().st_size > 0):
        return
    try:
        text = task_log(root, attempt.task_id)
    except HipercowError:
        return
    if text:
        path.write_text(text, encoding="utf-8")


def environment_history(root: Root, name: str) -> list[HistoryEntry]:
    """Every attempt on an environment, oldest first, unfinished ones reconciled."""
    read_environment(root, name)
    store = store_for(root, name)
    return hist.read_history(store, task_reconciler(root, store))


def attempt_outcome(root: Root, name: str, attempt_id: str) -> HistoryEntry:
    store = store_for(root, name)
    attempt = store.read_attempt(attempt_id)
    number = store.attempt_ids().index(attempt_id) + 1
    return hist.entry(store, attempt, number, task_reconciler(root, store))


class ProvisionFailedError(HipercowError):
    """An attempt ended without success (failed, cancelled, or its job lost)."""


def attempt_verdict(
    root: Root, started: ProvisionStarted
) -> tuple[HistoryEntry, ProvisionFailedError | None]:
    """How a submitted attempt ended: its history entry, and the error to raise unless it worked.

    It worked only if the build recorded success *and* its task ended in
    success: a build whose job was then killed or lost did not finish its
    work, so the attempt is reported as failed (or cancelled) with the
    build's own error when it left one, else how its job ended.
    """
    from hipercow_core.tasks import task_status

    entry = attempt_outcome(root, started.environment, started.attempt)
    job = task_status(root, started.task_id)
    if entry.status == "success" and job == TaskStatus.SUCCESS:
        return entry, None
    result = entry.result
    why = result.error if result and result.error else f"its job ended {job}"
    cancelled = entry.status == "cancelled" or job == TaskStatus.CANCELLED
    ended = "was cancelled" if cancelled else "failed"
    return entry, ProvisionFailedError(
        f"provisioning '{started.environment}' {ended} (attempt {entry.number}, {entry.id}): {why}",
        f"Read its log with 'hipercow environment log {started.environment} {entry.number}'.",
    )


def provision_inputs(
    root: Root,
    name: str,
    *,
    requirements: Path | None = None,
    pyproject: bool = False,
    packages: Sequence[str] = (),
    environment_file: Path | None = None,
    channels: Sequence[str] = (),
    from_attempt: str | None = None,
) -> ProvisionInputs:
    """The inputs asked for; with none, the last attempt's source again, else the project's files.

    `from_attempt` replays an earlier attempt's lock (engines that keep one,
    such as conda). An engine that checks inputs (`InputsChecker`) settles
    them here, on the submitting machine, so mistakes cost no job.
    """
    record = buildable(root, name)
    entries = environment_history(root, name)
    if from_attempt is not None:
        if packages or requirements or pyproject or environment_file or channels:
            raise InvalidInputError(
                "--from-attempt rebuilds an earlier attempt exactly: give no other inputs with it"
            )
        inputs = attempt_lock(root, name, entries, from_attempt)
    else:
        inputs = select_inputs(
            root.project,
            requirements=requirements,
            pyproject=root.project / "pyproject.toml" if pyproject else None,
            packages=packages,
            last=hist.last_inputs(entries),
            environment_file=environment_file,
        )
    engine = load_engine(record.engine)
    if isinstance(engine, InputsChecker):
        return engine.check_inputs(inputs, tuple(channels), record.channels)
    if channels or inputs.kind in ("environment", "lock"):
        raise InvalidInputError(
            f"channels and environment.yml files are for conda environments; '{name}' uses "
            f"the '{record.engine}' engine",
            "Create a conda environment with 'hipercow environment new NAME --engine conda'.",
        )
    return inputs


def attempt_lock(
    root: Root, name: str, entries: Sequence[HistoryEntry], selector: str
) -> ProvisionInputs:
    """The lock a successful earlier attempt left, as the inputs of a new one."""
    chosen = hist.select(entries, selector)
    if chosen.status != "success":
        raise InvalidInputError(
            f"attempt {chosen.number} ({chosen.id}) did not succeed, so it has no set to rebuild",
            f"See the successful ones with 'hipercow environment history {name}'.",
        )
    path = store_for(root, name).attempt_dir(chosen.id) / LOCK_FILE
    try:
        lock = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(
            f"attempt {chosen.number} ({chosen.id}) kept no lock (only conda environments keep one)",
            "Pin the versions it installed in a requirements file instead.",
        ) from None
    return from_lock(chosen.id, lock)


def check_environment(root: Root, name: str, inputs: ProvisionInputs) -> hist.CheckOutcome:
    record = buildable(root, name)
    return hist.check(environment_history(root, name), record.engine, inputs)


def _busy_error(name: str, running: ProvisionRunning) -> ProvisionBusyError:
    since = running.started.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    where = f" as task {running.task_id}" if running.task_id else ""
    hint = (
        f"Watch it with 'hipercow task log --follow {running.task_id}', or stop it with "
        f"'hipercow task cancel {running.task_id}'; then provision again."
        if running.task_id
        else "Wait for it to be submitted, then try again."
    )
    return ProvisionBusyError(
        f"environment '{name}' is already being provisioned: attempt {running.attempt}{where}, "
        f"started {since} from {running.host}",
        hint,
    )


def _claim(root: Root, name: str, store: HistoryStore, attempt_id: str) -> ProvisionRunning:
    """Take the environment for a new attempt, or refuse while another attempt holds it."""
    running = store.read_running()
    if running is not None:
        if provisioning_active(root, running):
            raise _busy_error(name, running)
        # The holder's job is over: settle its attempt, then drop its claim.
        if running.attempt in store.attempt_ids():
            attempt_outcome(root, name, running.attempt)
        store.release(running.attempt)
    claim = ProvisionRunning(
        attempt=attempt_id, started=datetime.now(UTC), host=hostname(), pid=os.getpid()
    )
    if not store.claim(claim):
        current = store.read_running()
        if current is not None:
            raise _busy_error(name, current)
        raise ProvisionBusyError(
            f"environment '{name}' was claimed by another provisioning at the same moment",
            "Try again in a moment.",
        )
    return claim


def _engine_options(engine: object, backend: object) -> dict[str, str]:
    """The driver's options that the engine reads on the nodes, e.g. conda's `conda_executable`.

    An engine names them in `driver_options`; a driver offers one by having
    a field of that name in its options (`hipercow driver configure slurm
    conda_executable=/shared/bin/micromamba`). Drivers without it give none.
    """
    names = getattr(engine, "driver_options", ())
    options = getattr(backend, "options", None)
    found = {name: getattr(options, name, None) for name in names}
    return {name: value for name, value in found.items() if isinstance(value, str) and value}


def start_provision(
    root: Root,
    name: str,
    inputs: ProvisionInputs,
    *,
    fresh: bool = False,
    python: str | None = None,
    driver: str | None = None,
) -> ProvisionStarted:
    """Claim the environment, record the attempt and submit its job; returns at once.

    Raises ProvisionBusyError when another attempt on this environment is
    queued or running. `busy_tasks` lists tasks using the environment that
    are queued or running now, which a new build may disturb.
    """
    from hipercow_core.drivers.registry import get_driver
    from hipercow_core.pyexec import EXIT_IMMEDIATE, EXIT_PAYLOAD
    from hipercow_core.pytasks import DEFAULT_MAX_ARGS_SIZE, encode_arguments
    from hipercow_core.tasks import TaskSpec, create_tasks, submit_tasks

    record = buildable(root, name)
    backend = get_driver(root, driver)
    busy = tuple(tasks_using(root, name))
    store = store_for(root, name)
    attempt_id = hist.new_attempt_id()
    claim = _claim(root, name, store, attempt_id)
    attempt: ProvisionAttempt | None = None
    try:
        queue = backend.build_queue()
        spec = TaskSpec(
            command=(JOB_TARGET,),
            kind="call",
            files=encode_arguments([name, attempt_id], {}, "json", DEFAULT_MAX_ARGS_SIZE),
            environment=EMPTY,
            resources=Resources(queue=queue) if queue else Resources(),
            # pyexec leaves the job through os._exit: see hipercow_provision.job.
            payload={"provision": f"{name}/{attempt_id}", EXIT_PAYLOAD: EXIT_IMMEDIATE},
        )
        task_id = create_tasks(root, [spec], cwd=root.project, driver=backend.name, submit=False)[0]
        attempt = ProvisionAttempt(
            id=attempt_id,
            engine=record.engine,
            inputs=inputs,
            inputs_hash=inputs_hash(record.engine, inputs),
            requested=claim.started,
            host=hostname(),
            environment=name,
            python=python or record.python,
            fresh=fresh,
            task_id=task_id,
            driver=backend.name,
            engine_options=_engine_options(load_engine(record.engine), backend),
        )
        store.write_attempt(attempt)
        store.update_claim(msgspec.structs.replace(claim, task_id=task_id))
        submit_tasks(root, [task_id])
    except BaseException as e:
        if attempt is not None:
            why = e.message if isinstance(e, HipercowError) else f"{type(e).__name__}: {e}"
            store.write_result(hist.lost_result(attempt, f"the job was not submitted: {why}"))
        store.release(attempt_id)
        if isinstance(e, DriverError):
            raise DriverError(
                f"the provisioning job was not submitted: {e.message}",
                "Check the driver with 'hipercow driver list', then provision again.",
            ) from None
        raise
    return ProvisionStarted(environment=name, attempt=attempt_id, task_id=task_id, busy_tasks=busy)


def wait_for_tasks(
    root: Root,
    name: str,
    *,
    timeout: float | None = None,
    poll: float = 1.0,
    on_poll: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Wait until no task using the environment is queued or running; returns those left."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        busy = tasks_using(root, name)
        if on_poll is not None:
            on_poll(busy)
        if not busy or (deadline is not None and time.monotonic() >= deadline):
            return busy
        time.sleep(poll)
