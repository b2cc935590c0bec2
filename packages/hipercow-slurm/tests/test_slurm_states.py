"""What each way a Slurm job can end means for a task whose runner recorded nothing."""

from __future__ import annotations

import pytest

from hipercow_core.schema import TaskStatus
from hipercow_slurm.parsing import JobState
from hipercow_slurm.states import ACTIVE_STATES, is_requeued, job_state, outcome


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


OOM_OUTPUT = """hipercow: task abc, Slurm job 19 on node n2, started 2026-12-01 09:55:45 +0000
slurmstepd-n2: error: StepId=19.batch exceeded memory limit (329826304 > 52428800), being killed
slurmstepd-n2: error: Exceeded job memory limit
"""


def test_a_job_killed_for_its_memory_is_out_of_memory() -> None:
    killed = JobState("19", "FAILED", exit_code=0, signal=9, reason="JobLaunchFailure")
    result = outcome(killed, OOM_OUTPUT)
    assert result is not None
    assert (result.status, result.reason) == (TaskStatus.FAILURE, "out of memory")
    plain = outcome(killed, "hipercow: task abc started\n")
    assert plain is not None
    assert plain.reason == "killed by signal 9"


def test_a_launch_failure_is_explained() -> None:
    for source in ("squeue", "sacct"):
        result = job_state("18", JobState("18", "FAILED", launch_error=4021, source=source))
        assert result.outcome is not None
        assert result.outcome.reason == "job ended before the task started"
        assert result.note is not None
        assert "node_project" in result.note


def test_sacct_exit_codes_are_corrected_from_the_batch_script() -> None:
    job = JobState("17", "FAILED", exit_code=9, signal=0, source="sacct")
    result = outcome(job, "hipercow: runner exited with code 137 at 2026-12-01\n")
    assert result is not None
    assert result.exit_code == 137
    assert result.reason == "job failed"
    # Without the script's report, sacct's number is all there is.
    alone = outcome(job, "")
    assert alone is not None
    assert alone.exit_code == 9


def test_a_failed_setup_line_is_named() -> None:
    output = (
        "/var/spool/slurmd/job00042/slurm_script: line 25: module: command not found\n"
        "hipercow: setup failed (exit 127): module load python\n"
    )
    result = job_state("42", JobState("42", "FAILED", exit_code=127, signal=0), output)
    assert result.outcome is not None
    assert result.outcome.reason == "job ended before the task started"
    assert result.note is not None
    assert "the setup line 'module load python' exited with code 127" in result.note
    assert "login_shell=true" in result.note


def test_requeued_jobs_are_told_apart() -> None:
    assert is_requeued(JobState("20", "PENDING", restarts=1, reason="BeginTime"))
    assert not is_requeued(JobState("11", "PENDING", reason="BeginTime"))
    assert not is_requeued(JobState("20", "RUNNING", restarts=1))
    state = job_state("20", JobState("20", "PENDING", restarts=1, reason="BeginTime"))
    assert state.kind == "active"
    assert state.note == "Slurm requeued job 20 (restart 1)"
    assert state.waiting == (
        "requeued by Slurm (restart 1); waits to run again: held until its start time"
        " (--hold-until) (BeginTime)"
    )
