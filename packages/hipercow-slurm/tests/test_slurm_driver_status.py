"""Reconciling task files with what Slurm says, without a cluster.

The queue is replaced by a dictionary of job states, so each case says
exactly what Slurm answered and checks what the task's files end up saying
after core's status check (`tasks_status`) put the tasks to the driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipercow_core.drivers.registry import configure_driver, get_driver
from hipercow_core.errors import SchedulerUnavailableError
from hipercow_core.root import Root
from hipercow_core.schema import (
    ClusterInfo,
    FinishedMarker,
    SubmittedMarker,
    TaskData,
    TaskStatus,
)
from hipercow_core.store import mark_finished, mark_submitted, read_markers, write_task
from hipercow_core.tasks import task_outer_log, tasks_status
from hipercow_slurm import queue
from hipercow_slurm.commands import Budget, SlurmError
from hipercow_slurm.driver import SlurmDriver
from hipercow_slurm.parsing import JobState

States = dict[str, JobState]


@pytest.fixture
def root(tmp_path: Path) -> Root:
    root, _ = Root.init(tmp_path)
    configure_driver(root, "slurm", {})
    return root


@pytest.fixture
def driver(root: Root) -> SlurmDriver:
    backend = get_driver(root, "slurm")
    assert isinstance(backend, SlurmDriver)
    return backend


def submitted_task(root: Root, task_id: str, job_id: str) -> str:
    write_task(
        root,
        TaskData(id=task_id, kind="shell", command=("true",), path=".", created=datetime.now(UTC)),
    )
    mark_submitted(root, task_id, SubmittedMarker(datetime.now(UTC), "slurm", job_id=job_id))
    return task_id


def answer(
    monkeypatch: pytest.MonkeyPatch,
    states: States,
    accounting: States | None = None,
    during: Callable[[], None] | None = None,
) -> list[Collection[str]]:
    asked: list[Collection[str]] = []

    def job_states(
        job_ids: Collection[str], *, budget: Budget, cache: Path | None = None
    ) -> States:
        asked.append(list(job_ids))
        if during is not None:
            during()
        return states

    def accounting_states(
        job_ids: Collection[str], *, budget: Budget, names: object = None
    ) -> States | None:
        return {} if accounting is None else accounting

    monkeypatch.setattr(queue, "job_states", job_states)
    monkeypatch.setattr(queue, "accounting_states", accounting_states)
    return asked


A = "a" * 32
B = "b" * 32
C = "c" * 32


def test_one_question_for_all_active_tasks(
    root: Root, driver: SlurmDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for task_id, job in ((A, "10_0"), (B, "10_1"), (C, "11")):
        submitted_task(root, task_id, job)
    asked = answer(
        monkeypatch,
        {
            "10_0": JobState("10_0", "RUNNING"),
            "10_1": JobState("10_1", "PENDING"),
            "11": JobState("11", "COMPLETING"),
        },
    )
    statuses = tasks_status(root, [A, B, C])
    assert len(asked) == 1
    assert sorted(asked[0]) == ["10_0", "10_1", "11"]
    assert statuses == {A: TaskStatus.SUBMITTED, B: TaskStatus.SUBMITTED, C: TaskStatus.SUBMITTED}


def test_terminal_tasks_are_not_asked_about(
    root: Root, driver: SlurmDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted_task(root, A, "10")
    mark_finished(root, A, FinishedMarker(TaskStatus.SUCCESS, datetime.now(UTC), exit_code=0))
    asked = answer(monkeypatch, {})
    assert tasks_status(root, [A]) == {A: TaskStatus.SUCCESS}
    assert asked == []


@pytest.mark.parametrize(
    ("state", "status", "reason", "exit_code"),
    [
        (JobState("10", "TIMEOUT", 0, 15), TaskStatus.FAILURE, "timed out", None),
        (JobState("10", "NODE_FAIL"), TaskStatus.FAILURE, "node failure", None),
        (JobState("10", "OUT_OF_MEMORY"), TaskStatus.FAILURE, "out of memory", None),
        (JobState("10", "CANCELLED", 0, 15), TaskStatus.CANCELLED, "cancelled", None),
        (
            JobState("10", "FAILED", 127, 0, "NonZeroExitCode"),
            TaskStatus.FAILURE,
            "job ended before the task started",
            127,
        ),
    ],
)
def test_ended_job_writes_the_outcome(
    root: Root,
    driver: SlurmDriver,
    monkeypatch: pytest.MonkeyPatch,
    state: JobState,
    status: TaskStatus,
    reason: str,
    exit_code: int | None,
) -> None:
    submitted_task(root, A, "10")
    answer(monkeypatch, {"10": state})
    assert tasks_status(root, [A]) == {A: status}
    finished = read_markers(root, A).finished
    assert finished is not None
    assert (finished.status, finished.reason, finished.exit_code) == (status, reason, exit_code)
    log = task_outer_log(root, A)
    assert log is not None
    assert f"ended {state.state}" in log


def test_job_unknown_to_slurm_and_accounting_is_lost(
    root: Root, driver: SlurmDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted_task(root, A, "10")
    answer(monkeypatch, {}, accounting={})
    assert tasks_status(root, [A]) == {A: TaskStatus.FAILURE}
    finished = read_markers(root, A).finished
    assert finished is not None
    assert finished.reason == "lost"


def test_accounting_answers_for_a_forgotten_job(
    root: Root, driver: SlurmDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted_task(root, A, "10")
    answer(monkeypatch, {}, accounting={"10": JobState("10", "TIMEOUT")})
    assert tasks_status(root, [A]) == {A: TaskStatus.FAILURE}
    finished = read_markers(root, A).finished
    assert finished is not None
    assert finished.reason == "timed out"


def test_nothing_is_concluded_when_accounting_cannot_be_asked(
    root: Root, driver: SlurmDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted_task(root, A, "10")
    answer(monkeypatch, {}, accounting=None)
    monkeypatch.setattr(queue, "accounting_states", lambda job_ids, *, budget, names=None: None)
    assert tasks_status(root, [A]) == {A: TaskStatus.SUBMITTED}
    assert read_markers(root, A).finished is None


def test_runner_finishing_during_the_poll_wins(
    root: Root, driver: SlurmDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job completed and its runner wrote success after the files were first read."""
    submitted_task(root, A, "10")

    def runner_finishes() -> None:
        mark_finished(root, A, FinishedMarker(TaskStatus.SUCCESS, datetime.now(UTC), exit_code=0))

    answer(monkeypatch, {"10": JobState("10", "COMPLETED", 0, 0)}, during=runner_finishes)
    assert tasks_status(root, [A]) == {A: TaskStatus.SUCCESS}
    finished = read_markers(root, A).finished
    assert finished is not None
    assert finished.reason is None


def test_a_slurm_refusal_is_a_readable_error(
    root: Root, driver: SlurmDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted_task(root, A, "10")

    def refuse(job_ids: Collection[str], *, budget: Budget, cache: Path | None = None) -> States:
        raise SlurmError("squeue", "squeue: error: Invalid user: nobody", transient=False)

    monkeypatch.setattr(queue, "job_states", refuse)
    with pytest.raises(SchedulerUnavailableError) as error:
        driver.status({A: "10"})
    assert "Invalid user" in error.value.message
    assert error.value.hint


def test_a_job_missing_from_both_is_lost_only_after_the_grace_period(
    root: Root, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sacct may lag behind the controller: missing from both is not lost at once."""
    submitted_task(root, A, "10")
    answer(monkeypatch, {}, accounting={})
    monkeypatch.setattr(queue, "has_accounting", lambda: True)
    info = ClusterInfo("c", "slurm", 2, 4000, extra={"min_job_age": "60"})
    monkeypatch.setattr(SlurmDriver, "_cluster", lambda self, budget: info)
    assert tasks_status(root, [A]) == {A: TaskStatus.SUBMITTED}
    assert read_markers(root, A).finished is None
    # A minute later it is still missing from both: now it is lost.
    since = datetime.fromtimestamp(time.time() - 61, UTC).isoformat()
    (root.task_dir(A) / "slurm-missing").write_text(since)
    assert tasks_status(root, [A]) == {A: TaskStatus.FAILURE}
    finished = read_markers(root, A).finished
    assert finished is not None
    assert finished.reason == "lost"
