"""What each way a Slurm job can end means for a task whose runner recorded nothing."""

from __future__ import annotations

import pytest

from hipercow_core.schema import TaskStatus
from hipercow_slurm.parsing import JobState
from hipercow_slurm.states import ACTIVE_STATES, job_state, outcome


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES))
def test_active_jobs_have_no_outcome_yet(state: str) -> None:
    assert outcome(JobState("1", state)) is None


@pytest.mark.parametrize(
    ("state", "status", "reason"),
    [
        ("TIMEOUT", TaskStatus.FAILURE, "timed out"),
        ("OUT_OF_MEMORY", TaskStatus.FAILURE, "out of memory"),
        ("NODE_FAIL", TaskStatus.FAILURE, "node failure"),
        ("BOOT_FAIL", TaskStatus.FAILURE, "node failure"),
        ("PREEMPTED", TaskStatus.FAILURE, "preempted"),
        ("DEADLINE", TaskStatus.FAILURE, "deadline reached"),
        ("CANCELLED", TaskStatus.CANCELLED, "cancelled"),
        ("COMPLETED", TaskStatus.FAILURE, "lost"),
        ("SOMETHING_NEW", TaskStatus.FAILURE, "lost"),
    ],
)
def test_ended_jobs(state: str, status: TaskStatus, reason: str) -> None:
    result = outcome(JobState("1", state))
    assert result is not None
    assert (result.status, result.reason) == (status, reason)


def test_failed_job_keeps_its_exit_code() -> None:
    result = outcome(JobState("1", "FAILED", exit_code=3, signal=0, reason="NonZeroExitCode"))
    assert result is not None
    assert (result.status, result.exit_code, result.reason) == (TaskStatus.FAILURE, 3, "job failed")


def test_failed_by_signal_shows_like_a_shell_exit_code() -> None:
    result = outcome(JobState("1", "FAILED", exit_code=0, signal=9, reason="JobLaunchFailure"))
    assert result is not None
    assert result.exit_code == 137
    assert result.reason == "killed by signal 9"


def test_failed_with_a_slurm_reason_says_it() -> None:
    result = job_state(
        "1", JobState("1", "FAILED", exit_code=1, signal=0, reason="JobLaunchFailure")
    )
    assert result.outcome is not None
    assert result.outcome.reason == "job failed"
    assert result.note == "Slurm job 1 ended FAILED (JobLaunchFailure)"


def test_cancelled_because_a_dependency_failed_is_a_failure() -> None:
    result = outcome(JobState("1", "CANCELLED", reason="DependencyNeverSatisfied"))
    assert result is not None
    assert (result.status, result.reason) == (TaskStatus.FAILURE, "dependency failed")


def test_a_pending_jobs_reason_is_said_in_words() -> None:
    pending = job_state("5", JobState("5", "PENDING", reason="Resources"))
    assert pending.kind == "active"
    assert (
        pending.waiting == "waiting for resources: every node that could run it is busy (Resources)"
    )
    qos = job_state("5", JobState("5", "PENDING", reason="QOSMaxJobsPerUserLimit"))
    assert (
        qos.waiting == "a limit of its QOS (quality of service) is reached (QOSMaxJobsPerUserLimit)"
    )
    odd = job_state("5", JobState("5", "PENDING", reason="SomethingNew"))
    assert odd.waiting == "pending: SomethingNew"
    assert job_state("5", JobState("5", "RUNNING", reason="None")).waiting is None
