"""Creating tasks and asking about them: the operations behind `hipercow task ...`.

Status comes from the task's files first; only tasks the files call
submitted or running are put to their driver, in one batched call per driver,
and what the driver learns is written back as markers.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import msgspec

from hipercow_core import jobs
from hipercow_core.drivers.protocol import AnyDriver
from hipercow_core.drivers.registry import get_driver
from hipercow_core.environments import (
    default_environment,
    require_environment,
    warn_if_unbuilt,
)
from hipercow_core.errors import InvalidInputError, InvalidResourcesError, TaskStateError
from hipercow_core.ids import new_task_ids
from hipercow_core.index import ListedTask, indexed_tasks
from hipercow_core.log import get_logger
from hipercow_core.lookalikes import check_command
from hipercow_core.resources import validate_resources
from hipercow_core.root import Root
from hipercow_core.schema import (
    Resources,
    RetryPolicy,
    TaskData,
    TaskInfo,
    TaskKind,
    TaskSecrets,
    TaskStatus,
    TaskTimes,
)
from hipercow_core.store import (
    file_status,
    file_statuses,
    iter_task_ids,
    log_path,
    read_markers,
    read_notes,
    read_submitted,
    read_task_data,
    record_last,
    task_exists,
    write_tasks,
)

log = get_logger(__name__)

LOG_TRUNCATED = "log.truncated"  # written by the runner when the output reached its cap

_ENVVAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class TaskSpec(msgspec.Struct, frozen=True):
    """What a caller asks for; `create_tasks` turns each into a stored task."""

    command: tuple[str, ...]
    kind: TaskKind = "shell"
    resources: Resources = Resources()
    envvars: dict[str, str] = {}
    environment: str | None = None
    bundle: str | None = None
    retry_of: str | None = None
    depends_on: tuple[str, ...] = ()
    after_any: tuple[str, ...] = ()
    retry_policy: RetryPolicy | None = None
    payload: dict[str, str] = {}
    files: dict[str, bytes] = {}
    path: str | None = None
    secrets: TaskSecrets | None = None
    name: str | None = None
    tags: dict[str, str] = {}
    max_log_size: int | None = None


def _check_envvars(envvars: Mapping[str, str]) -> None:
    for name in envvars:
        if not _ENVVAR_NAME.fullmatch(name):
            raise InvalidInputError(
                f"'{name}' is not a valid environment variable name",
                "Use letters, digits and underscores, not starting with a digit.",
            )


def check_labels(name: str | None, tags: Mapping[str, str]) -> None:
    """A name and tags that fit on one line of a listing and in a scheduler's job name."""
    if name is not None and (not name.strip() or any(c in name for c in "\r\n\t")):
        raise InvalidInputError(
            f"--name {name!r} is empty or holds a line break or tab", "Give a one-line name."
        )
    for key in tags:
        if not _ENVVAR_NAME.fullmatch(key.replace("-", "_").replace(".", "_")):
            raise InvalidInputError(
                f"tag '{key}' is not a valid tag name",
                "Use letters, digits, '_', '-' and '.', not starting with a digit.",
            )


def _check_secret_names(spec: TaskSpec) -> None:
    both = sorted(set(spec.envvars) & set(spec.secrets.values if spec.secrets else {}))
    if both:
        raise InvalidInputError(
            f"'{both[0]}' is given both as --env and as --secret", "Give it only once."
        )


def _check_text(spec: TaskSpec) -> None:
    """Commands and variables are stored as UTF-8: bytes that are not (from a command line
    in another encoding) are refused, since they could not be written or run as given."""
    texts = [("the command", t) for t in spec.command]
    texts += [(f"--env {name}", value) for name, value in spec.envvars.items()]
    for what, text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            shown = text.encode("utf-8", "backslashreplace").decode()
            raise InvalidInputError(
                f"{what} holds bytes that are not UTF-8: '{shown}'",
                "Write it in UTF-8 (e.g. set LANG=C.UTF-8 and retype it).",
            ) from None


def create_tasks(
    root: Root,
    specs: Sequence[TaskSpec],
    *,
    cwd: Path | None = None,
    driver: str | None = None,
    submit: bool = True,
) -> list[str]:
    """Validate, write and (by default) submit tasks in one batch; returns their ids.

    Everything is validated before anything is written, so bad input creates
    nothing. If submission fails the tasks stay `created` and the error says
    how to send them later.
    """
    made = write_new_tasks(root, specs, cwd=cwd, driver=driver, submit=submit)
    if submit and made.records:
        submit_with(root, made.backend, made.ids, known=made.by_id)
    return made.ids


class NewTasks(NamedTuple):
    """Tasks just written, with the driver they were validated for."""

    backend: AnyDriver
    records: list[TaskData]

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    @property
    def by_id(self) -> dict[str, TaskData]:
        return {r.id: r for r in self.records}


def write_new_tasks(
    root: Root,
    specs: Sequence[TaskSpec],
    *,
    cwd: Path | None = None,
    driver: str | None = None,
    submit: bool = False,
) -> NewTasks:
    """Validate and write tasks (not submitted): `create_tasks` without its submission.

    With `submit`, the caller submits them next: once they are validated the
    driver is told (`expect_submission`), so its preparation (the local
    daemon's start) overlaps the writing.
    """
    path = root.relative_path(cwd or Path.cwd())
    backend = get_driver(root, driver)
    cluster = backend.cluster_info() if specs else None
    fallback_environment = default_environment(root) if specs else None
    for name in sorted({e for spec in specs if (e := spec.environment or fallback_environment)}):
        require_environment(root, name)
        warn_if_unbuilt(root, name, runs_here=backend.name == "local")
    now = datetime.now(UTC)
    validated: dict[Resources, Resources] = {}
    records = []
    fresh_ids = iter(new_task_ids(len(specs)))
    for spec in specs:
        if not spec.command:
            raise InvalidInputError("no command given", "Put the command after '--'.")
        if spec.kind == "shell":
            check_command(spec.command)
        _check_envvars(spec.envvars)
        _check_secret_names(spec)
        check_labels(spec.name, spec.tags)
        _check_text(spec)
        assert cluster is not None
        if spec.resources not in validated:
            try:
                validated[spec.resources] = validate_resources(spec.resources, cluster)
            except InvalidResourcesError:
                if "cached_at" not in cluster.extra:
                    raise
                # a saved answer may be out of date: judge by the scheduler's own
                cluster = backend.fresh_cluster_info()
                validated[spec.resources] = validate_resources(spec.resources, cluster)
        records.append(
            TaskData(
                id=next(fresh_ids),
                kind=spec.kind,
                command=spec.command,
                path=spec.path or path,
                created=now,
                resources=validated[spec.resources],
                environment=spec.environment or fallback_environment,
                envvars=dict(spec.envvars),
                driver=backend.name,
                bundle=spec.bundle,
                retry_of=spec.retry_of,
                depends_on=spec.depends_on,
                after_any=spec.after_any,
                retry_policy=spec.retry_policy,
                payload=dict(spec.payload),
                secrets=spec.secrets,
                name=spec.name,
                tags=dict(spec.tags),
                max_log_size=spec.max_log_size,
            )
        )
    _check_dependencies(root, {d for spec in specs for d in (*spec.depends_on, *spec.after_any)})
    if submit and records:
        backend.expect_submission()
    write_tasks(root, zip(records, (spec.files for spec in specs), strict=True))
    if records:
        record_last(root, records[-1].id)
    log.debug("created tasks", count=len(records), driver=backend.name)
    return NewTasks(backend, records)


def _check_dependencies(root: Root, ids: set[str]) -> None:
    for task_id in ids:
        if not task_exists(root, task_id):
            raise InvalidInputError(
                f"task {task_id} (a dependency) does not exist",
                "Depend on tasks of this root, or on a bundle by name:"
                " 'hipercow task list' and 'hipercow bundle list' show them.",
            )


def create_task(
    root: Root,
    command: Sequence[str],
    *,
    kind: TaskKind = "shell",
    resources: Resources | None = None,
    envvars: Mapping[str, str] | None = None,
    environment: str | None = None,
    cwd: Path | None = None,
    driver: str | None = None,
    submit: bool = True,
) -> str:
    """Create one task (and submit it unless `submit=False`); returns its id."""
    spec = TaskSpec(
        command=tuple(command),
        kind=kind,
        resources=resources or Resources(),
        envvars=dict(envvars or {}),
        environment=environment,
    )
    return create_tasks(root, [spec], cwd=cwd, driver=driver, submit=submit)[0]


def submit_with(
    root: Root,
    backend: AnyDriver,
    ids: Sequence[str],
    known: Mapping[str, TaskData] | None = None,
) -> list[str]:
    """Submit tasks through one driver (core keeps the files); returns those it accepted.

    `known`: the data of tasks just written, so they are not read back.
    """
    return jobs.submit(root, backend, ids, known)


def submit_tasks(
    root: Root, ids: Sequence[str] | None = None, driver: str | None = None
) -> list[str]:
    """Submit tasks left `created` (all of them when `ids` is None); returns those sent."""
    candidates = list(ids) if ids is not None else list(iter_task_ids(root))
    pending = [i for i in candidates if file_status(root, i) == TaskStatus.CREATED]
    if ids is not None:
        for task_id in ids:
            read_task_data(root, task_id)
    if not pending:
        return []
    by_driver: dict[str | None, list[str]] = defaultdict(list)
    for task_id in pending:
        by_driver[driver or read_task_data(root, task_id).driver].append(task_id)
    for name, group in by_driver.items():
        submit_with(root, get_driver(root, name), group)
    return pending


def _driver_of(root: Root, task_id: str) -> str | None:
    """The driver a task went to (else the one it was made for): one small read per task."""
    submitted = read_submitted(root, task_id)
    if submitted is not None:
        return submitted.driver
    return read_task_data(root, task_id).driver


def tasks_status(
    root: Root,
    ids: Iterable[str],
    *,
    reconcile: bool = True,
    strict: bool = False,
    waiting: dict[str, str] | None = None,
) -> dict[str, TaskStatus]:
    """Statuses of many tasks; active ones are checked with their driver, batched.

    A task with a corrupt file is `unreadable`; with `strict` the error naming
    the file is raised instead (for commands about that one task). `waiting`,
    when given, is filled with why queued tasks have not started, in words,
    from the same scheduler call.
    """
    found = file_statuses(root, list(ids), strict=strict)
    result = {task_id: status for task_id, (_, status) in found.items()}
    return jobs.reconcile(root, result, waiting) if reconcile else result


def followed_statuses(
    root: Root,
    ids: Sequence[str],
    *,
    follow: bool = True,
    strict: bool = False,
    waiting: dict[str, str] | None = None,
) -> dict[str, tuple[str, TaskStatus]]:
    """For each task, its latest retry (unless `follow=False`) and that retry's status.

    A task with a corrupt file (or a cycle of retries) is `unreadable`; with
    `strict` the error naming the file is raised instead. `waiting` is filled
    (latest id -> words) as for `tasks_status`.
    """
    found = file_statuses(root, ids, follow=follow, strict=strict)
    latest = jobs.reconcile(root, dict(found.values()), waiting)
    return {task_id: (last, latest[last]) for task_id, (last, _) in found.items()}


def task_status(root: Root, task_id: str, *, reconcile: bool = True) -> TaskStatus:
    """One task's status; a malformed id raises, an unknown one is `missing`."""
    return tasks_status(root, [task_id], reconcile=reconcile, strict=True)[task_id]


def task_info(root: Root, task_id: str) -> TaskInfo:
    """A task's data, status and times; also reconciles it with its driver."""
    data = read_task_data(root, task_id)
    waiting: dict[str, str] = {}
    status = tasks_status(root, [task_id], strict=True, waiting=waiting)[task_id]
    markers = read_markers(root, task_id)
    submitted, running, finished = markers
    times = TaskTimes(
        created=data.created,
        submitted=submitted.time if submitted else None,
        started=running.time if running else None,
        finished=finished.time if finished else None,
        not_before=submitted.not_before if submitted else None,
    )
    waited, ran = _durations(times, status)
    return TaskInfo(
        id=task_id,
        status=status,
        data=data,
        times=times,
        driver=submitted.driver if submitted else data.driver,
        job_id=submitted.job_id if submitted else None,
        exit_code=finished.exit_code if finished else None,
        reason=finished.reason if finished else None,
        host=running.host if running else None,
        note=finished.note if finished else None,
        waited_seconds=waited,
        ran_seconds=ran,
        held_zone=submitted.held_zone if submitted else None,
        usage=finished.usage if finished else None,
        waiting_reason=waiting.get(task_id) if status == TaskStatus.SUBMITTED else None,
        node_version=running.hipercow_version if running else None,
        log_truncated=(root.task_dir(task_id) / LOG_TRUNCATED).exists(),
    )


def _durations(times: TaskTimes, status: TaskStatus) -> tuple[float | None, float | None]:
    """Seconds waited (submitted to started) and run (started to finished, or to now)."""
    waited = None
    if times.started and times.submitted:
        waited = (times.started - times.submitted).total_seconds()
    end = times.finished or (None if status.is_terminal else datetime.now(UTC))
    ran = (end - times.started).total_seconds() if times.started and end else None
    return waited, ran


def task_log(root: Root, task_id: str) -> str | None:
    """The task's own output so far; None if it has not started writing."""
    read_task_data(root, task_id)
    try:
        return log_path(root, task_id).read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return None


def task_outer_log(root: Root, task_id: str) -> str | None:
    """The scheduler's view of the task (its job's output), then what hipercow noted about it."""
    read_task_data(root, task_id)
    if file_status(root, task_id) == TaskStatus.CREATED:
        return None
    submitted = read_submitted(root, task_id)
    name = submitted.driver if submitted else _driver_of(root, task_id)
    job_id = submitted.job_id if submitted else None
    parts = [get_driver(root, name).outer_log(task_id, job_id), read_notes(root, task_id)]
    text = "".join(p if p.endswith("\n") else p + "\n" for p in parts if p)
    return text or None


def follow_log(root: Root, task_id: str, *, poll: float = 0.25) -> Iterator[bytes]:
    """Yield the task log's new bytes as they arrive, until the task has finished.

    The log and the task's markers are read every `poll` seconds: files cost
    no scheduler call, so a short poll shows the end promptly. The driver is
    asked (for a job that died without a marker) at first, then on the pace
    of a wait, backing off to its `max_poll_interval`.
    """
    read_task_data(root, task_id)
    path = log_path(root, task_id)
    pace = _SchedulerPace(max(poll, FOLLOW_SCHEDULER_POLL), _max_poll_interval(root, task_id))
    offset = 0
    status = task_status(root, task_id)
    while True:
        try:
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            offset += len(chunk)
            yield chunk
        if status.is_terminal or status == TaskStatus.MISSING:
            return
        time.sleep(poll)
        status = task_status(root, task_id, reconcile=False)
        if status.is_active and pace.ready():
            status = task_status(root, task_id)


def cancel_tasks(root: Root, ids: Sequence[str]) -> dict[str, bool]:
    """Cancel tasks that have not finished; True for each this call cancelled."""
    return {task_id: why is None for task_id, why in cancel_tasks_explained(root, ids).items()}


def cancel_tasks_explained(root: Root, ids: Sequence[str]) -> dict[str, str | None]:
    """Cancel tasks that have not finished; None for each this call cancelled, else why not.

    Nothing is recorded for a task that was not stopped: a refusal (a local
    task running on another machine) leaves its status as it was.
    """
    for task_id in ids:
        read_task_data(root, task_id)
    statuses = tasks_status(root, ids)
    result: dict[str, str | None] = {
        task_id: jobs.ALREADY_FINISHED for task_id, status in statuses.items() if status.is_terminal
    }
    result.update(jobs.cancel_explained(root, [t for t in ids if t not in result]))
    return result


#: How soon a followed log first asks the driver again after its first reading.
FOLLOW_SCHEDULER_POLL = 1.0
#: How often a wait reads the task files: they cost no scheduler call, and
#: reading them often is what ends a wait within a second of the last task.
FILE_POLL = 0.2
#: A wait on many tasks pauses at least this many times as long as its last
#: reading of their files took, so reading 1,000 unfinished tasks' files does
#: not take a fifth of a core from the tasks themselves on a small machine.
READ_PAUSE_FACTOR = 10


class _SchedulerPace:
    """When a wait may next ask the scheduler: soon at first, then backing off to a ceiling.

    A wait reads the task files every `FILE_POLL` seconds, but asks the
    scheduler (for jobs that died without writing a marker) only on this
    pace, so the calls per minute stay bounded however long the wait lasts.
    """

    def __init__(self, first: float, ceiling: float) -> None:
        self.interval = first
        self.ceiling = max(first, ceiling)
        self.due = time.monotonic() + first

    def ready(self) -> bool:
        if time.monotonic() < self.due:
            return False
        self.interval = min(self.interval * 1.5, self.ceiling)
        self.due = time.monotonic() + self.interval
        return True


def _pause(deadline: float | None, poll: float) -> None:
    time.sleep(poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic())))


def wait_task(
    root: Root,
    task_id: str,
    *,
    timeout: float | None = None,
    poll: float = 0.1,
    max_poll: float | None = None,
    on_poll: Callable[[TaskStatus], None] | None = None,
    follow: bool = True,
) -> TaskStatus:
    """Poll until the task is terminal or `timeout` seconds pass; returns the last status.

    With `follow`, a task that ended and was retried (by hand or by its
    retry policy) is waited for to the end of its chain.

    The task's files are read every `FILE_POLL` seconds; the scheduler is
    asked from `poll` seconds on, backing off to the driver's
    `max_poll_interval` (or `max_poll`), so a long wait does not hammer it.
    """
    read_task_data(root, task_id)
    asked = task_id
    pace = _SchedulerPace(poll, max_poll or _max_poll_interval(root, task_id))
    deadline = None if timeout is None else time.monotonic() + timeout
    status = task_status(root, task_id)
    while True:
        if status.is_terminal and follow and (later := _retry_of(root, task_id)) is not None:
            task_id, status = later, task_status(root, later)
            continue
        if on_poll is not None:
            on_poll(status)
        if status.is_terminal:
            return status
        # A retry is linked before its maker submits it, so one found along
        # the chain may not be submitted yet: only the task asked for is refused.
        if status == TaskStatus.CREATED and task_id == asked:
            raise TaskStateError(
                f"task '{task_id}' was never submitted",
                f"Run 'hipercow task submit {task_id}' first.",
            )
        if deadline is not None and time.monotonic() >= deadline:
            return status
        _pause(deadline, min(FILE_POLL, poll))
        status = task_status(root, task_id, reconcile=False)
        if not status.is_terminal and pace.ready():
            status = task_status(root, task_id)


def wait_tasks(
    root: Root,
    task_ids: Sequence[str],
    *,
    timeout: float | None = None,
    poll: float = 0.2,
    fail_early: bool = False,
    on_poll: Callable[[dict[str, TaskStatus]], None] | None = None,
    follow: bool = True,
) -> dict[str, TaskStatus]:
    """Wait for many tasks; finished ones are not read again, only the rest are polled.

    The files of unfinished tasks are read every `FILE_POLL` seconds; the
    scheduler is asked about those still unfinished only on a backing-off
    pace (see `_SchedulerPace`). Returns the last statuses: all terminal, or
    some not when `timeout` passed or (with `fail_early`) as soon as one task
    did not succeed.
    """
    statuses = tasks_status(root, task_ids)
    if any(s == TaskStatus.CREATED for s in statuses.values()):
        pending = [t for t, s in statuses.items() if s == TaskStatus.CREATED]
        raise TaskStateError(
            f"{len(pending)} task(s) were never submitted, e.g. {pending[0]}",
            "Run 'hipercow task submit' first.",
        )
    pace = _SchedulerPace(poll, _max_poll_interval(root, task_ids[0]) if task_ids else 1.0)
    deadline = None if timeout is None else time.monotonic() + timeout
    latest = {t: t for t in statuses}  # each task's attempt being waited for
    final: set[str] = set()  # tasks whose latest attempt ended with no retry to come
    reading = 0.0
    while True:
        if follow:
            _follow_retries(root, latest, statuses, final)
        if on_poll is not None:
            on_poll(statuses)
        active = [t for t, s in statuses.items() if not s.is_terminal]
        failed = any(s in (TaskStatus.FAILURE, TaskStatus.CANCELLED) for s in statuses.values())
        if not active or (fail_early and failed):
            return statuses
        if deadline is not None and time.monotonic() >= deadline:
            return statuses
        _pause(deadline, max(min(FILE_POLL, poll), READ_PAUSE_FACTOR * reading))
        began = time.monotonic()
        _update(
            statuses,
            latest,
            active,
            tasks_status(root, [latest[t] for t in active], reconcile=False),
        )
        reading = time.monotonic() - began
        still = [t for t in active if not statuses[t].is_terminal]
        if still and pace.ready():
            _update(statuses, latest, still, tasks_status(root, [latest[t] for t in still]))


def _update(
    statuses: dict[str, TaskStatus],
    latest: Mapping[str, str],
    which: Iterable[str],
    found: Mapping[str, TaskStatus],
) -> None:
    for task_id in which:
        statuses[task_id] = found[latest[task_id]]


def _retry_of(root: Root, task_id: str) -> str | None:
    """The retry an ended task has, or is due by its policy (made now if nobody made it yet)."""
    from hipercow_core.auto_retry import retry_if_due

    return retry_if_due(root, task_id)


def _follow_retries(
    root: Root, latest: dict[str, str], statuses: dict[str, TaskStatus], final: set[str]
) -> None:
    """Move each ended task on to its retry, so a task is done only at the end of its chain.

    A task whose latest attempt ended with no retry is not looked at again.
    """
    for task_id, status in statuses.items():
        if not status.is_terminal or task_id in final:
            continue
        moved = False
        while (later := _retry_of(root, latest[task_id])) is not None:
            latest[task_id], moved = later, True
        if moved:
            statuses[task_id] = task_status(root, latest[task_id])
        if statuses[task_id].is_terminal:
            final.add(task_id)


def _max_poll_interval(root: Root, task_id: str) -> float:
    return get_driver(root, _driver_of(root, task_id)).max_poll_interval


def _labelled(
    task: ListedTask, name: str | None, tags: Mapping[str, str], bundle: str | None
) -> bool:
    from fnmatch import fnmatchcase

    if name is not None and (task.name is None or not fnmatchcase(task.name, name)):
        return False
    if bundle is not None and task.bundle != bundle:
        return False
    return all(task.tags.get(k) == v for k, v in tags.items())


def list_tasks(
    root: Root,
    *,
    statuses: Iterable[TaskStatus] | None = None,
    since: datetime | None = None,
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    bundle: str | None = None,
    reconcile: bool = True,
) -> list[ListedTask]:
    """Tasks in creation order, filtered by status, creation time, name, tags and bundle.

    `name` is a shell-style pattern (`fit*`); every one of `tags` must match exactly.

    Statuses come from the files (through a local cache); tasks the files
    call submitted or running are checked with their drivers.
    """
    wanted = set(statuses) if statuses else None
    found = [t for t in indexed_tasks(root) if _labelled(t, name, tags or {}, bundle)]
    if reconcile:
        active = [t.id for t in found if t.status.is_active]
        if active:
            fresh = tasks_status(root, active)
            found = [msgspec.structs.replace(t, status=fresh.get(t.id, t.status)) for t in found]
    epoch = datetime.min.replace(tzinfo=UTC)
    selected = [
        t
        for t in found
        if (wanted is None or t.status in wanted)
        and (since is None or (t.created is not None and t.created >= since))
    ]
    selected.sort(key=lambda t: (t.created or epoch, t.id))
    return selected
