"""Core's bookkeeping for every driver (`hipercow_core.jobs`), with an in-memory driver.

`Scripted` implements the driver protocol with no scheduler behind it: it
records every call and answers what a test tells it to. What is checked is
what core writes into the task files and says to the caller; the real
drivers are exercised by the contract suite (tests/contract).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import msgspec
import pytest

from hipercow_core import jobs, outcomes
from hipercow_core.drivers import registry
from hipercow_core.drivers.protocol import (
    AnyDriver,
    CancelReport,
    DependencyStyle,
    Driver,
    DriverFactory,
    JobRequest,
    JobState,
    SubmitReport,
)
from hipercow_core.errors import DriverError, SchedulerUnavailableError, SchedulerUnavailableWarning
from hipercow_core.ids import new_task_id
from hipercow_core.resources import parse_resources
from hipercow_core.root import Root
from hipercow_core.schema import (
    ClusterInfo,
    FinishedMarker,
    Resources,
    RunningMarker,
    TaskData,
    TaskStatus,
)
from hipercow_core.store import (
    file_status,
    mark_finished,
    mark_running,
    read_markers,
    read_notes,
    read_submitted,
    write_task,
)


class FakeOptions(msgspec.Struct):
    """The fake driver has no options."""


class Scripted(Driver[FakeOptions]):
    """A driver whose scheduler is a test: it records calls and answers as told.

    `refuse` maps task ids to the scheduler's refusal; `unreachable_after`
    makes the scheduler stop answering after that many accepted requests (as
    a portal does half-way through a batch); `states` are the status answers
    by task id (left out: still active); `stops` is which jobs a cancel
    stops (default: all).
    """

    name: ClassVar[str] = "fake"
    options_type: ClassVar[type[msgspec.Struct]] = FakeOptions
    dependencies: ClassVar[DependencyStyle] = "jobs"

    def __init__(self, root: Root, options: FakeOptions) -> None:
        self.root = root
        self.options = options
        self.rounds: list[list[JobRequest]] = []
        self.refuse: dict[str, str] = {}
        self.unreachable_after: int | None = None
        self.fail_submit: SchedulerUnavailableError | None = None
        self.states: dict[str, JobState] = {}
        self.status_error: DriverError | None = None
        self.during_status: Callable[[], None] | None = None
        self.status_calls: list[dict[str, str]] = []
        self.stops: set[str] | None = None
        self.cancel_calls: list[dict[str, str]] = []
        self.accepted = 0

    def submit(self, requests: Sequence[JobRequest]) -> SubmitReport:
        self.rounds.append(list(requests))
        if self.fail_submit is not None:
            raise self.fail_submit
        report = SubmitReport()
        for request in requests:
            if self.unreachable_after is not None and self.accepted >= self.unreachable_after:
                report.unreachable = "the scheduler stopped answering"
                break
            if request.task_id in self.refuse:
                report.refused[request.task_id] = self.refuse[request.task_id]
                continue
            self.accepted += 1
            report.accepted[request.task_id] = f"job-{self.accepted}"
        return report

    def status(self, jobs: Mapping[str, str]) -> dict[str, JobState]:
        self.status_calls.append(dict(jobs))
        if self.status_error is not None:
            raise self.status_error
        if self.during_status is not None:
            self.during_status()
        return {t: self.states[t] for t in jobs if t in self.states}

    def cancel(self, jobs: Mapping[str, str]) -> CancelReport:
        self.cancel_calls.append(dict(jobs))
        stops = set(jobs) if self.stops is None else self.stops & set(jobs)
        refused = {t: "the scheduler would not" for t in jobs if t not in stops}
        return CancelReport(stopped=stops, refused=refused)

    def outer_log(self, task_id: str, job_id: str | None) -> str | None:
        return None

    def cluster_info(self) -> ClusterInfo:
        return ClusterInfo(name="fake", driver=self.name, max_cores=4, max_memory=1000)


class FileQueue(Scripted):
    """The same, for a driver whose own queue reads dependencies from the files."""

    dependencies: ClassVar[DependencyStyle] = "files"


if TYPE_CHECKING:
    _checked: DriverFactory[FakeOptions] = Scripted


@pytest.fixture
def root(tmp_path: Path) -> Root:
    return Root.init(tmp_path)[0]


@pytest.fixture
def fake(root: Root, monkeypatch: pytest.MonkeyPatch) -> Scripted:
    """The fake driver, found by name as core finds a task's driver."""
    driver = Scripted(root, FakeOptions())
    real = registry.get_driver

    def get_driver(r: Root, name: str | None = None) -> AnyDriver:
        return driver if name == driver.name else real(r, name)

    monkeypatch.setattr(registry, "get_driver", get_driver)
    return driver


def task(
    root: Root, *depends_on: str, resources: Resources | None = None, driver: str = "fake"
) -> str:
    """A stored task that is `created`, depending on the given tasks."""
    data = TaskData(
        id=new_task_id(),
        kind="shell",
        command=("true",),
        path=".",
        created=datetime.now(UTC),
        resources=resources or Resources(),
        driver=driver,
        depends_on=depends_on,
    )
    write_task(root, data)
    return data.id


def finish(root: Root, task_id: str, status: TaskStatus, exit_code: int | None = None) -> None:
    """The runner's own record of how a task ended."""
    assert mark_finished(root, task_id, FinishedMarker(status, datetime.now(UTC), exit_code))


def start(root: Root, task_id: str) -> None:
    """The runner's record that the task started."""
    mark_running(root, task_id, RunningMarker(datetime.now(UTC), "node-1", 4242))


def finished(root: Root, task_id: str) -> FinishedMarker:
    marker = read_markers(root, task_id).finished
    assert marker is not None, f"task {task_id} has no terminal marker"
    return marker


def statuses(root: Root, *task_ids: str) -> list[TaskStatus]:
    return [file_status(root, t) for t in task_ids]


@pytest.fixture
def no_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SchedulerUnavailableWarning)
        yield


# -- submit ------------------------------------------------------------------


def test_a_chain_goes_in_rounds_each_given_its_dependencies_job_ids(
    root: Root, fake: Scripted
) -> None:
    a = task(root)
    b = task(root, a)
    c = task(root, a, b)
    d = task(root)
    # Given out of order: core still sends each task after its dependencies.
    assert sorted(jobs.submit(root, fake, [c, b, a, d])) == sorted([a, b, c, d])
    sent = [[(r.task_id, r.after_jobs) for r in batch] for batch in fake.rounds]
    assert sent == [
        [(a, ()), (d, ())],
        [(b, ("job-1",))],
        [(c, ("job-1", "job-3"))],
    ]
    marker = read_submitted(root, c)
    assert marker is not None
    assert (marker.driver, marker.job_id, marker.depends_on) == ("fake", "job-4", (a, b))
    assert statuses(root, a, b, c, d) == [TaskStatus.SUBMITTED] * 4


def test_a_dependency_outside_the_batch_is_passed_by_job_id_unless_it_succeeded(
    root: Root, fake: Scripted
) -> None:
    queued, done = task(root), task(root)
    jobs.submit(root, fake, [queued, done])
    finish(root, done, TaskStatus.SUCCESS, 0)
    later = task(root, queued, done)
    jobs.submit(root, fake, [later])
    [[request]] = fake.rounds[1:]
    assert request.after_jobs == ("job-1",)


def test_a_driver_with_its_own_queue_gets_a_batch_in_one_call(root: Root) -> None:
    queue = FileQueue(root, FakeOptions())
    a = task(root)
    b = task(root, a)
    jobs.submit(root, queue, [a, b])
    assert [[(r.task_id, r.after_jobs) for r in batch] for batch in queue.rounds] == [
        [(a, ()), (b, ())]
    ]


def test_a_cycle_is_refused_and_stays_created(root: Root, fake: Scripted) -> None:
    a_id, b_id = new_task_id(), new_task_id()
    for this, other in ((a_id, b_id), (b_id, a_id)):
        write_task(
            root,
            TaskData(
                id=this,
                kind="shell",
                command=("true",),
                path=".",
                created=datetime.now(UTC),
                driver="fake",
                depends_on=(other,),
            ),
        )
    free = task(root)
    with pytest.raises(DriverError) as caught:
        jobs.submit(root, fake, [a_id, b_id, free])
    assert caught.value.message.startswith("2 of 3 tasks were not submitted: its dependencies")
    assert "cycle" in caught.value.message
    assert statuses(root, a_id, b_id, free) == [
        TaskStatus.CREATED,
        TaskStatus.CREATED,
        TaskStatus.SUBMITTED,
    ]


def test_a_task_whose_dependency_failed_is_settled_without_a_request(
    root: Root, fake: Scripted
) -> None:
    failed = task(root)
    jobs.submit(root, fake, [failed])
    finish(root, failed, TaskStatus.FAILURE, 1)
    doomed = task(root, failed)
    assert jobs.submit(root, fake, [doomed]) == []
    assert len(fake.rounds) == 1, "no request was made for it"
    marker = finished(root, doomed)
    assert (marker.status, marker.reason) == (TaskStatus.FAILURE, outcomes.DEPENDENCY_FAILED)
    assert f"task {failed}, a dependency, is failure" in (read_notes(root, doomed) or "")


def test_dependents_of_a_task_settled_in_the_batch_are_settled_too(
    root: Root, fake: Scripted
) -> None:
    failed = task(root)
    jobs.submit(root, fake, [failed])
    finish(root, failed, TaskStatus.CANCELLED)
    middle = task(root, failed)
    last = task(root, middle)
    assert jobs.submit(root, fake, [middle, last]) == []
    assert fake.rounds[1:] == []
    assert [finished(root, t).reason for t in (middle, last)] == [outcomes.DEPENDENCY_FAILED] * 2


def test_not_submitted_is_counted_once_for_refusals_and_their_dependents(
    root: Root, fake: Scripted
) -> None:
    refused, fine = task(root), task(root)
    dependent = task(root, refused)
    fake.refuse[refused] = "memory beyond any node"
    with pytest.raises(DriverError) as caught:
        jobs.submit(root, fake, [refused, fine, dependent])
    assert caught.value.message == (
        f"2 of 3 tasks were not submitted: memory beyond any node (e.g. task {refused})"
    )
    assert caught.value.hint is not None and "They stayed 'created'" in caught.value.hint
    assert statuses(root, refused, fine, dependent) == [
        TaskStatus.CREATED,
        TaskStatus.SUBMITTED,
        TaskStatus.CREATED,
    ]


def test_one_task_not_submitted_is_named(root: Root, fake: Scripted) -> None:
    only = task(root)
    fake.refuse[only] = "no such queue"
    with pytest.raises(DriverError) as caught:
        jobs.submit(root, fake, [only])
    assert caught.value.message == f"task {only} was not submitted: no such queue"
    assert caught.value.hint is not None and "It stayed 'created'" in caught.value.hint


def test_a_scheduler_that_stops_answering_mid_batch_leaves_the_rest_created(
    root: Root, fake: Scripted
) -> None:
    first, second, third = task(root), task(root), task(root)
    after_second = task(root, second)
    fake.unreachable_after = 1
    with pytest.raises(SchedulerUnavailableError) as caught:
        jobs.submit(root, fake, [first, second, third, after_second])
    assert caught.value.message == (
        "3 of 4 tasks were not submitted: the scheduler stopped answering"
    )
    assert statuses(root, first, second, third, after_second) == [
        TaskStatus.SUBMITTED,
        TaskStatus.CREATED,
        TaskStatus.CREATED,
        TaskStatus.CREATED,
    ]
    assert len(fake.rounds) == 1, "no later round once the scheduler stopped answering"


def test_a_scheduler_down_in_a_later_round_keeps_the_earlier_rounds(
    root: Root, fake: Scripted
) -> None:
    class Down(Scripted):
        def submit(self, requests: Sequence[JobRequest]) -> SubmitReport:
            if self.rounds:
                self.fail_submit = SchedulerUnavailableError("sbatch timed out", "Try later.")
            return super().submit(requests)

    down = Down(root, FakeOptions())
    a = task(root)
    b = task(root, a)
    with pytest.raises(SchedulerUnavailableError) as caught:
        jobs.submit(root, down, [a, b])
    assert caught.value.message == "1 of 2 tasks was not submitted: sbatch timed out"
    assert caught.value.hint is not None and caught.value.hint.startswith("Try later.")
    assert statuses(root, a, b) == [TaskStatus.SUBMITTED, TaskStatus.CREATED]


def test_hold_times_are_resolved_once_for_the_whole_batch(root: Root, fake: Scripted) -> None:
    held = parse_resources(hold_until="2h")
    a = task(root, resources=held)
    b = task(root, a, resources=held)
    jobs.submit(root, fake, [a, b])
    [[first], [second]] = fake.rounds
    assert first.not_before is not None
    assert first.not_before == second.not_before, "the second round agrees with the first"
    assert 119 * 60 < (first.not_before - datetime.now(UTC)).total_seconds() <= 120 * 60


# -- status ------------------------------------------------------------------


def submitted(root: Root, fake: Scripted, *task_ids: str) -> dict[str, str]:
    """Submit the tasks; their job ids by task id."""
    jobs.submit(root, fake, list(task_ids))
    found = {t: read_submitted(root, t) for t in task_ids}
    return {t: m.job_id for t, m in found.items() if m is not None and m.job_id is not None}


def reconcile(root: Root, *task_ids: str) -> dict[str, TaskStatus]:
    return jobs.reconcile(root, {t: file_status(root, t) for t in task_ids})


def test_active_jobs_are_put_to_the_driver_in_one_call(
    root: Root, fake: Scripted, no_warnings: None
) -> None:
    a, b, done = task(root), task(root), task(root)
    ids = submitted(root, fake, a, b, done)
    finish(root, done, TaskStatus.SUCCESS, 0)
    fake.states[a] = JobState.active()  # b is left out of the answer: still active too
    assert reconcile(root, a, b, done) == {
        a: TaskStatus.SUBMITTED,
        b: TaskStatus.SUBMITTED,
        done: TaskStatus.SUCCESS,
    }
    assert fake.status_calls == [{a: ids[a], b: ids[b]}]
    assert read_markers(root, a).finished is None


def test_an_ended_job_is_settled_with_its_outcome_and_the_schedulers_words(
    root: Root, fake: Scripted, no_warnings: None
) -> None:
    timed_out = task(root)
    submitted(root, fake, timed_out)
    start(root, timed_out)
    fake.states[timed_out] = JobState.ended(
        outcomes.failure(outcomes.TIMED_OUT, 143), "job job-1 ended TIMEOUT"
    )
    assert reconcile(root, timed_out) == {timed_out: TaskStatus.FAILURE}
    marker = finished(root, timed_out)
    assert (marker.reason, marker.exit_code) == (outcomes.TIMED_OUT, 143)
    assert marker.note == "job job-1 ended TIMEOUT"
    assert "job job-1 ended TIMEOUT" in (read_notes(root, timed_out) or "")


def test_a_job_the_scheduler_forgot_is_lost(root: Root, fake: Scripted, no_warnings: None) -> None:
    forgotten = task(root)
    submitted(root, fake, forgotten)
    fake.states[forgotten] = JobState.unknown()
    reconcile(root, forgotten)
    marker = finished(root, forgotten)
    assert (marker.status, marker.reason) == (TaskStatus.FAILURE, outcomes.LOST)
    assert marker.note == "fake no longer knows job job-1"


def test_a_job_that_just_failed_was_lost_if_its_runner_started_else_never_started(
    root: Root, fake: Scripted, no_warnings: None
) -> None:
    killed, never_started = task(root), task(root)
    submitted(root, fake, killed, never_started)
    start(root, killed)
    for t in (killed, never_started):
        fake.states[t] = JobState.ended(outcomes.failure(outcomes.JOB_FAILED, 137))
    reconcile(root, killed, never_started)
    assert (finished(root, killed).reason, finished(root, killed).exit_code) == (
        outcomes.LOST,
        137,
    )
    assert finished(root, never_started).reason == outcomes.NOT_STARTED


def test_a_dependent_the_scheduler_cancelled_for_a_failed_dependency_failed(
    root: Root, fake: Scripted, no_warnings: None
) -> None:
    dependency = task(root)
    submitted(root, fake, dependency)
    dependent = task(root, dependency)
    submitted(root, fake, dependent)
    finish(root, dependency, TaskStatus.FAILURE, 1)
    fake.states[dependent] = JobState.ended(outcomes.cancelled(), "job job-2 Canceled")
    reconcile(root, dependent)
    assert finished(root, dependent).reason == outcomes.DEPENDENCY_FAILED


def test_the_runner_wins_a_race_with_the_status_check(
    root: Root, fake: Scripted, no_warnings: None
) -> None:
    racing = task(root)
    submitted(root, fake, racing)
    start(root, racing)
    fake.states[racing] = JobState.unknown("gone from the queue")
    # The runner records its outcome while the scheduler is being asked.
    fake.during_status = lambda: finish(root, racing, TaskStatus.SUCCESS, 0)
    assert reconcile(root, racing) == {racing: TaskStatus.SUCCESS}
    assert finished(root, racing).exit_code == 0
    assert read_notes(root, racing) is None


def test_a_terminal_marker_is_written_once(root: Root, fake: Scripted) -> None:
    once = task(root)
    submitted(root, fake, once)
    assert jobs.settle(root, once, outcomes.cancelled(), "cancelled by a user")
    assert not jobs.settle(root, once, outcomes.failure(outcomes.LOST), "found lost")
    assert finished(root, once).reason == outcomes.CANCELLED
    assert "found lost" not in (read_notes(root, once) or "")


def test_an_unreachable_scheduler_leaves_the_files_answer_and_warns_once(
    root: Root, fake: Scripted
) -> None:
    a, b = task(root), task(root)
    submitted(root, fake, a, b)
    start(root, b)
    fake.status_error = SchedulerUnavailableError("squeue timed out")
    with pytest.warns(SchedulerUnavailableWarning) as caught:
        assert reconcile(root, a, b) == {a: TaskStatus.SUBMITTED, b: TaskStatus.RUNNING}
    assert [str(w.message) for w in caught] == [
        "could not ask fake about 2 tasks (squeue timed out); showing what the task files say"
    ]
    assert statuses(root, a, b) == [TaskStatus.SUBMITTED, TaskStatus.RUNNING]


def test_queued_dependents_of_a_failed_task_are_failed_and_their_jobs_stopped(
    root: Root, fake: Scripted, no_warnings: None
) -> None:
    dependency = task(root)
    submitted(root, fake, dependency)
    stuck, waiting = task(root, dependency), task(root)
    ids = submitted(root, fake, stuck, waiting)
    finish(root, dependency, TaskStatus.FAILURE, 1)
    fake.states = {stuck: JobState.active(), waiting: JobState.active()}
    assert reconcile(root, stuck, waiting) == {
        stuck: TaskStatus.FAILURE,
        waiting: TaskStatus.SUBMITTED,
    }
    assert fake.cancel_calls == [{stuck: ids[stuck]}]
    marker = finished(root, stuck)
    assert marker.reason == outcomes.DEPENDENCY_FAILED
    assert marker.note is not None and ids[stuck] in marker.note


# -- cancel ------------------------------------------------------------------


def test_cancel_writes_markers_only_for_the_jobs_the_scheduler_stopped(
    root: Root, fake: Scripted
) -> None:
    stopped, kept, done = task(root), task(root), task(root)
    ids = submitted(root, fake, stopped, kept, done)
    finish(root, done, TaskStatus.SUCCESS, 0)
    never_sent = task(root)
    fake.stops = {stopped}
    result = jobs.cancel(root, [stopped, kept, done, never_sent])
    assert result == {stopped: True, kept: False, done: False, never_sent: True}
    assert fake.cancel_calls == [{stopped: ids[stopped], kept: ids[kept]}]
    assert statuses(root, stopped, kept, done, never_sent) == [
        TaskStatus.CANCELLED,
        TaskStatus.SUBMITTED,
        TaskStatus.SUCCESS,
        TaskStatus.CANCELLED,
    ]
    assert finished(root, stopped).note == f"fake job {ids[stopped]} cancelled"
    assert finished(root, never_sent).note == "cancelled before it was submitted"
