"""What core does for every driver: the file side of submitting, checking and cancelling.

Drivers only talk to their schedulers (`drivers.protocol`); this module is
the one place that turns their answers into the task store's files:

- submit: make task directories, resolve hold times once per batch, order a
  batch so dependencies go first (in rounds, for schedulers that need their
  job ids), fail at once a task whose dependency already failed, write the
  `submitted` markers of what the scheduler accepted, and word what it did
  not accept once ("N of M tasks were not submitted: why");
- status: put active tasks' job ids to their driver in one call, write the
  write-once terminal marker of jobs that ended without their runner saying
  so (re-reading the files first, so the runner wins a race), fail queued
  tasks whose dependency failed (and stop their jobs), and, when the
  scheduler cannot be reached, keep the files' answer and warn once;
- cancel: ask the driver to stop jobs, then write `cancelled` for those it
  stopped.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from hipercow_core import outcomes
from hipercow_core.dependencies import Readiness, readiness
from hipercow_core.drivers.protocol import (
    AnyDriver,
    CancelReport,
    JobRequest,
    JobState,
    SubmitReport,
)
from hipercow_core.errors import (
    DriverError,
    SchedulerUnavailableError,
    SchedulerUnavailableWarning,
    StorageError,
)
from hipercow_core.log import get_logger
from hipercow_core.outcomes import Outcome
from hipercow_core.resources import resolve_hold_until, zone_name
from hipercow_core.root import Root
from hipercow_core.schema import (
    FinishedMarker,
    HoldUntil,
    SubmittedMarker,
    TaskData,
    TaskStatus,
)
from hipercow_core.store import (
    append_note,
    ensure_task_dir,
    file_status,
    mark_finished,
    mark_submitted_many,
    read_submitted,
    read_task_data,
)

log = get_logger(__name__)

CYCLE = "its dependencies form a cycle"
STAYED = "They stayed 'created': run 'hipercow task submit' to send them later."


# -- settling ----------------------------------------------------------------


def fail_not_started(root: Root, task_id: str) -> bool:
    """Fail a queued task whose dependency failed, before it ever starts (a queue's own check)."""
    return settle(
        root,
        task_id,
        outcomes.failure(outcomes.DEPENDENCY_FAILED),
        "not started: a dependency failed",
    )


def settle(root: Root, task_id: str, outcome: Outcome, note: str | None = None) -> bool:
    """Write a task's terminal marker unless it has one; True if this call wrote it.

    The marker is write-once, so the runner recording its own outcome at the
    same moment always wins or loses whole, never half.
    """
    marker = FinishedMarker(
        outcome.status,
        datetime.now(UTC),
        exit_code=outcome.exit_code,
        reason=outcome.reason,
        note=note,
    )
    if not mark_finished(root, task_id, marker):
        return False
    if note:
        append_note(root, task_id, note)
    log.info("task settled", task=task_id, status=str(outcome.status), reason=outcome.reason)
    _retry_if_due(root, task_id, outcome)
    return True


def _retry_if_due(root: Root, task_id: str, outcome: Outcome) -> None:
    """Make the task's automatic retry now, if it asked for one for this reason."""
    from hipercow_core.auto_retry import RETRY_ON, retry_if_due

    if outcome.status == TaskStatus.FAILURE and outcome.reason in RETRY_ON.values():
        retry_if_due(root, task_id)


# -- submit ------------------------------------------------------------------


class _Batch:
    """One submission: the tasks, what has been decided for each so far, and the rounds."""

    def __init__(self, root: Root, backend: AnyDriver, data: dict[str, TaskData]) -> None:
        self.root = root
        self.backend = backend
        self.data = data
        self.now = datetime.now(UTC)
        self.accepted: dict[str, str] = {}
        self.refused: dict[str, str] = {}
        self.failed: set[str] = set()
        self.hint: str | None = None
        self.unreachable: str | None = None
        self.cause: DriverError | None = None
        self._holds: dict[HoldUntil, datetime] = {}

    def _resolved(self, hold: HoldUntil) -> datetime:
        """When a hold ends, resolved once per batch: its tasks agree on the time."""
        found = self._holds.get(hold)
        if found is None:
            found = self._holds[hold] = resolve_hold_until(hold, self.now)
        return found

    def decided(self, task_id: str) -> bool:
        return task_id in self.accepted or task_id in self.refused or task_id in self.failed

    def plan(self, task_id: str) -> JobRequest | None:
        """The request for a task whose dependencies allow it now; None to wait a round.

        Settles (dependency failed) or refuses the task instead where its
        dependencies say so.
        """
        data = self.data[task_id]
        by_jobs = self.backend.dependencies == "jobs"
        after: list[str] = []
        for dep in data.depends_on:
            if dep in self.failed:
                self._fail(task_id, f"task {dep}, a dependency, failed")
                return None
            if dep in self.refused:
                self.refused[task_id] = f"it depends on task {dep}, which was not submitted"
                return None
            if dep in self.accepted:
                if by_jobs:
                    after.append(self.accepted[dep])
                continue
            if dep in self.data:
                if by_jobs:
                    return None  # wait for the round that gives it a job id
                continue
            if not self._outside(task_id, dep, after if by_jobs else None):
                return None
        after_any: list[str] = []
        for dep in data.after_any:
            if not self._ended_or_job(task_id, dep, after_any if by_jobs else None):
                return None
        hold = data.resources.hold_until
        not_before = self._resolved(hold) if hold is not None else None
        return JobRequest(task_id, data, not_before, tuple(after), tuple(after_any))

    def _ended_or_job(self, task_id: str, dep: str, after: list[str] | None) -> bool:
        """Whether an `--after-any` dependency lets the task be requested now.

        Ended (failed included) lets it go; a job of this batch or of this
        driver goes into `after` when the scheduler needs its id.
        """
        if dep in self.failed:
            return True
        if dep in self.refused:
            self.refused[task_id] = f"it runs after task {dep}, which was not submitted"
            return False
        if dep in self.accepted:
            if after is not None:
                after.append(self.accepted[dep])
            return True
        if dep in self.data:
            return after is None  # else wait for the round that gives it a job id
        status = file_status(self.root, dep)
        if status.is_terminal or status == TaskStatus.MISSING:
            return True
        if status == TaskStatus.CREATED:
            self.refused[task_id] = f"it runs after task {dep}, which has not been submitted"
            return False
        if after is None:
            return True
        marker = read_submitted(self.root, dep)
        if marker is None or marker.driver != self.backend.name or not marker.job_id:
            self.refused[task_id] = (
                f"it runs after task {dep}, which is not a {self.backend.name} job"
            )
            return False
        after.append(marker.job_id)
        return True

    def _outside(self, task_id: str, dep: str, after: list[str] | None) -> bool:
        """Whether a dependency outside this batch lets the task go; else it is settled or refused.

        Appends the dependency's job id to `after` when the scheduler needs it.
        """
        status = file_status(self.root, dep)
        if status == TaskStatus.SUCCESS:
            return True
        if status.is_terminal or status == TaskStatus.MISSING:
            self._fail(task_id, f"task {dep}, a dependency, is {status}")
            return False
        if status == TaskStatus.CREATED:
            self.refused[task_id] = f"it depends on task {dep}, which has not been submitted"
            return False
        if after is None:
            return True
        marker = read_submitted(self.root, dep)
        if marker is None or marker.driver != self.backend.name or not marker.job_id:
            self.refused[task_id] = (
                f"it depends on task {dep}, which is not a {self.backend.name} job"
            )
            return False
        after.append(marker.job_id)
        return True

    def _fail(self, task_id: str, detail: str) -> None:
        settle(
            self.root,
            task_id,
            outcomes.failure(outcomes.DEPENDENCY_FAILED),
            f"not submitted: {detail}",
        )
        self.failed.add(task_id)

    def round(self, waiting: list[str]) -> list[str]:
        """Submit every task that can go now; returns those that must wait for a later round."""
        requests: list[JobRequest] = []
        later: list[str] = []
        for task_id in waiting:
            request = self.plan(task_id)
            if request is not None:
                requests.append(request)
            elif not self.decided(task_id):
                later.append(task_id)
        if requests:
            self._send(requests)
        elif len(later) == len(waiting):  # nobody can go, nobody was decided: a cycle
            for task_id in later:
                self.refused[task_id] = CYCLE
            return []
        if self.unreachable is not None:
            for task_id in later:
                self.refused[task_id] = self.unreachable
            return []
        return later

    def _send(self, requests: list[JobRequest]) -> None:
        try:
            report = self.backend.submit(requests)
        except DriverError as e:  # nothing could be tried: all of them stay `created`
            report = SubmitReport(unreachable=e.message, hint=e.hint)
            self.cause = self.cause or e
        accepted = datetime.now(UTC)
        markers: dict[str, SubmittedMarker] = {}
        for request in requests:
            task_id = request.task_id
            job_id = report.accepted.get(task_id)
            if job_id is not None:
                held = request.not_before
                markers[task_id] = SubmittedMarker(
                    accepted,
                    self.backend.name,
                    job_id,
                    request.data.depends_on,
                    not_before=request.not_before,
                    held_zone=zone_name(held) if held is not None else None,
                )
                self.accepted[task_id] = job_id
            else:
                why = report.refused.get(task_id) or report.unreachable or "not tried"
                self.refused[task_id] = why
        mark_submitted_many(self.root, markers)
        self.hint = self.hint or report.hint
        self.unreachable = self.unreachable or report.unreachable

    def error(self) -> DriverError | None:
        """The one error for everything that was not submitted, if anything was not."""
        if not self.refused:
            return None
        total = len(self.data)
        count = len(self.refused)
        first_id, first = next(iter(self.refused.items()))
        if total == 1:
            which = f"task {first_id} was not submitted"
        else:
            which = f"{count} of {total} tasks {'was' if count == 1 else 'were'} not submitted"
        if self.unreachable is not None:
            message = f"{which}: {self.unreachable}"
        else:
            message = f"{which}: {first}" + (f" (e.g. task {first_id})" if count > 1 else "")
        hint = self.hint or (
            f"Check the tasks' resources and the driver's options "
            f"('hipercow driver show {self.backend.name}')."
        )
        stayed = STAYED if count > 1 else STAYED.replace("They", "It").replace("them", "it")
        error_type: type[DriverError] = DriverError
        if self.cause is not None:
            error_type = type(self.cause)  # callers may catch a driver's own error class
        elif self.unreachable is not None:
            error_type = SchedulerUnavailableError
        return error_type(message, f"{hint} {stayed}")


def submit(
    root: Root,
    backend: AnyDriver,
    task_ids: Sequence[str],
    known: Mapping[str, TaskData] | None = None,
) -> list[str]:
    """Submit tasks through `backend`; returns the ids it accepted.

    `known` holds task data the caller has just written (a creation), so a
    batch of thousands is not read back from disk. Raises one `DriverError`
    naming how many were not submitted and why; the tasks it names stay
    `created`, so `hipercow task submit` can send them.
    """
    ids = list(dict.fromkeys(task_ids))
    if not ids:
        return []
    given = known or {}
    data = {task_id: given.get(task_id) or read_task_data(root, task_id) for task_id in ids}
    ensure_task_dir(root, ids)
    batch = _Batch(root, backend, data)
    waiting = ids
    while waiting:
        waiting = batch.round(waiting)
    log.debug(
        "submitted",
        driver=backend.name,
        accepted=len(batch.accepted),
        refused=len(batch.refused),
        failed=len(batch.failed),
    )
    error = batch.error()
    if error is not None:
        raise error
    return list(batch.accepted)


# -- status ------------------------------------------------------------------


def reconcile(
    root: Root, statuses: Mapping[str, TaskStatus], waiting: dict[str, str] | None = None
) -> dict[str, TaskStatus]:
    """The statuses with every active task put to its driver: one call per driver.

    Each active task's `submitted` marker is read once, for its driver, job
    id and dependencies. `waiting`, when given, is filled with why each
    queued task has not started, in the scheduler's words, from the same call.
    """
    from hipercow_core.drivers.registry import get_driver

    result = dict(statuses)
    groups: dict[str | None, dict[str, SubmittedMarker | None]] = {}
    for task_id, status in statuses.items():
        if status.is_active:
            marker = read_submitted(root, task_id)
            name = marker.driver if marker else read_task_data(root, task_id).driver
            groups.setdefault(name, {})[task_id] = marker
    for name, markers in groups.items():
        result.update(_reconcile_group(root, get_driver(root, name), markers, result, waiting))
    return result


def _reconcile_group(
    root: Root,
    backend: AnyDriver,
    markers: Mapping[str, SubmittedMarker | None],
    known: Mapping[str, TaskStatus],
    waiting: dict[str, str] | None = None,
) -> dict[str, TaskStatus]:
    jobs = {t: m.job_id for t, m in markers.items() if m is not None and m.job_id is not None}
    if not jobs:
        return {}
    try:
        answers = backend.status(jobs)
    except DriverError as e:
        _warn_unavailable(backend.name, len(jobs), e)
        return {}
    result: dict[str, TaskStatus] = {}
    if waiting is not None:
        waiting.update(
            {t: s.waiting for t, s in answers.items() if s.kind == "active" and s.waiting}
        )
    ended = [t for t, state in answers.items() if t in jobs and state.kind != "active"]
    # Tasks without dependencies first, so a dependent sees a dependency that ended this poll.
    for task_id in sorted(ended, key=lambda t: bool(_depends_on(markers[t]))):
        depends_on = _depends_on(markers[task_id])
        try:
            _settle_job(root, task_id, jobs[task_id], answers[task_id], backend.name, depends_on)
        except StorageError as e:  # reading must work on a full or read-only disk
            log.info("outcome not recorded", task=task_id, reason=e.message)
        result[task_id] = file_status(root, task_id)
    waiting_on = {
        task_id: marker.depends_on
        for task_id, marker in markers.items()
        if marker is not None
        and marker.depends_on
        and task_id in jobs
        and result.get(task_id, known[task_id]) == TaskStatus.SUBMITTED
    }
    if waiting_on:
        result.update(_fail_stuck_dependents(root, backend, waiting_on, jobs))
    return result


def _depends_on(marker: SubmittedMarker | None) -> tuple[str, ...]:
    return marker.depends_on if marker is not None else ()


def _settle_job(
    root: Root,
    task_id: str,
    job_id: str,
    state: JobState,
    driver: str,
    depends_on: tuple[str, ...],
) -> None:
    """Write the outcome of a job that ended without its runner recording one.

    What the files know refines what the scheduler says, the same way on
    every cluster: a job that never started while a dependency failed ended
    for that reason (some schedulers call it cancelled, as the portal does),
    and a generic failure is told apart by whether the runner had started.
    """
    status = file_status(root, task_id)
    if status.is_terminal:  # the runner recorded it meanwhile
        return
    if state.kind == "ended" and state.outcome is not None:
        outcome = state.outcome
        note = state.note or f"{driver} job {job_id} ended"
    else:
        outcome = outcomes.failure(outcomes.LOST)
        note = state.note or f"{driver} no longer knows job {job_id}"
    if (
        status == TaskStatus.SUBMITTED
        and depends_on
        and outcome.reason != outcomes.DEPENDENCY_FAILED
        and readiness(root, depends_on) == Readiness.FAILED
    ):
        outcome = outcomes.failure(outcomes.DEPENDENCY_FAILED)
        note = f"{note}: a dependency failed before it started"
    settle(root, task_id, _refined(outcome, started=status == TaskStatus.RUNNING), note)


def _refined(outcome: Outcome, *, started: bool) -> Outcome:
    """A scheduler's generic failure told apart by whether the runner had started.

    A job that failed after its runner started lost the task's outcome with
    the runner; one that failed before never started the task, and its outer
    log says why (a setup line, a missing interpreter).
    """
    if outcome.status != TaskStatus.FAILURE or outcome.reason != outcomes.JOB_FAILED:
        return outcome
    reason = outcomes.LOST if started else outcomes.NOT_STARTED
    return Outcome(outcome.status, reason, outcome.exit_code)


def _fail_stuck_dependents(
    root: Root,
    backend: AnyDriver,
    waiting_on: Mapping[str, tuple[str, ...]],
    jobs: Mapping[str, str],
) -> dict[str, TaskStatus]:
    """Fail queued tasks whose dependency failed, stopping their jobs first.

    Some schedulers keep such a job queued for ever; whatever the scheduler
    does, a task that can never run is failed now, with the same reason on
    every cluster.
    """
    doomed = {
        t: jobs[t] for t, deps in waiting_on.items() if readiness(root, deps) == Readiness.FAILED
    }
    if not doomed:
        return {}
    try:
        backend.cancel(doomed)
    except DriverError as e:
        log.info("could not stop the jobs of failed dependents", reason=e.message)
    for task_id, job_id in doomed.items():
        settle(
            root,
            task_id,
            outcomes.failure(outcomes.DEPENDENCY_FAILED),
            f"a dependency failed; job {job_id} was stopped before it started",
        )
    return {task_id: file_status(root, task_id) for task_id in doomed}


def _warn_unavailable(driver: str, count: int, error: DriverError) -> None:
    tasks = "1 task" if count == 1 else f"{count} tasks"
    warnings.warn(
        SchedulerUnavailableWarning(
            f"could not ask {driver} about {tasks} ({error.message}); "
            "showing what the task files say"
        ),
        stacklevel=3,
    )


# -- cancel ------------------------------------------------------------------


#: Why a task was not cancelled, by cause (the driver's refusals come as it words them).
ALREADY_FINISHED = "already finished"
FINISHED_MEANWHILE = "it finished meanwhile"


def cancel(root: Root, task_ids: Sequence[str]) -> dict[str, bool]:
    """Cancel tasks (grouped by driver, one call each); True for each this call cancelled."""
    return {task_id: why is None for task_id, why in cancel_explained(root, task_ids).items()}


def cancel_explained(root: Root, task_ids: Sequence[str]) -> dict[str, str | None]:
    """Cancel tasks like `cancel`; None for each this call cancelled, else why it was not.

    The reason is what the user needs to act on: a finished task, or the
    driver's refusal (a local task running on another machine names it).
    """
    from hipercow_core.drivers.registry import get_driver

    result: dict[str, str | None] = {}
    groups: dict[str | None, dict[str, str]] = {}
    for task_id in task_ids:
        status = file_status(root, task_id)
        marker = read_submitted(root, task_id) if status.is_active else None
        if status == TaskStatus.MISSING:
            result[task_id] = "there is no such task"
        elif status.is_terminal:
            result[task_id] = ALREADY_FINISHED
        elif marker is None or marker.job_id is None:
            done = settle(root, task_id, outcomes.cancelled(), "cancelled before it was submitted")
            result[task_id] = None if done else FINISHED_MEANWHILE
        else:
            groups.setdefault(marker.driver, {})[task_id] = marker.job_id
    for name, jobs in groups.items():
        result.update(_cancel_group(root, get_driver(root, name), jobs))
    return result


def _cancel_group(root: Root, backend: AnyDriver, jobs: Mapping[str, str]) -> dict[str, str | None]:
    report: CancelReport = backend.cancel(jobs)
    result: dict[str, str | None] = {}
    for task_id, job_id in jobs.items():
        if task_id in report.stopped:
            done = settle(
                root, task_id, outcomes.cancelled(), f"{backend.name} job {job_id} cancelled"
            )
            # a poll elsewhere (a waiting executor) may record this very cancel first
            done = done or file_status(root, task_id) == TaskStatus.CANCELLED
            result[task_id] = None if done else FINISHED_MEANWHILE
        else:
            why = report.refused.get(task_id, f"{backend.name} did not answer for job {job_id}")
            log.info("scheduler did not cancel", task=task_id, job=job_id, reason=why)
            result[task_id] = why
    return result
