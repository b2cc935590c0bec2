"""What a Slurm job state means for a hipercow task whose runner left no outcome.

The runner on the node records success or failure itself. When the job ended
without that (the scheduler killed it, the node died, the script never got
as far as the runner), the state Slurm reports is turned into the task's
terminal status, with a short reason a user can act on.
"""

from __future__ import annotations

from hipercow_core import outcomes
from hipercow_core.drivers.protocol import JobState as ContractState
from hipercow_core.outcomes import Outcome
from hipercow_core.schema import TaskStatus
from hipercow_slurm.parsing import JobState

#: States in which a job may still run (or is still being cleaned up).
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "STOPPED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESV_DEL_HOLD",
        "POWER_UP_NODE",
        "UPDATE_DB",
    }
)

_FIXED: dict[str, Outcome] = {
    "TIMEOUT": outcomes.failure(outcomes.TIMED_OUT),
    "OUT_OF_MEMORY": outcomes.failure(outcomes.OUT_OF_MEMORY),
    "NODE_FAIL": outcomes.failure(outcomes.NODE_FAILURE),
    "BOOT_FAIL": outcomes.failure(outcomes.NODE_FAILURE),
    "PREEMPTED": outcomes.failure(outcomes.PREEMPTED),
    "DEADLINE": outcomes.failure(outcomes.DEADLINE),
    "SPECIAL_EXIT": outcomes.failure(outcomes.JOB_FAILED),
    "REVOKED": outcomes.cancelled(),
}


def is_active(state: str) -> bool:
    return state in ACTIVE_STATES


def outcome(job: JobState) -> Outcome | None:
    """The task outcome a finished job implies; None while the job is active."""
    if is_active(job.state):
        return None
    fixed = _FIXED.get(job.state)
    if fixed is not None:
        return fixed
    if job.state == "CANCELLED":
        if job.reason == "DependencyNeverSatisfied":
            # --kill-on-invalid-dep: Slurm cancelled it because a dependency failed.
            return outcomes.failure(outcomes.DEPENDENCY_FAILED)
        return outcomes.cancelled()
    code = shell_exit_code(job)
    if job.state == "FAILED":
        reason = outcomes.signal_reason(job.signal) if job.signal else outcomes.JOB_FAILED
        return Outcome(TaskStatus.FAILURE, reason, code)
    # COMPLETED (or any state this version does not know) without the runner's
    # own record: the task's outcome was never written.
    return Outcome(TaskStatus.FAILURE, outcomes.LOST, code)


def shell_exit_code(job: JobState) -> int | None:
    """An exit code as a shell would show it: 128 + signal for a killed process."""
    if job.signal:
        return 128 + job.signal
    return job.exit_code


#: Slurm's pending reasons (squeue's %r) in words; others are shown as Slurm gives them.
PENDING_REASONS = {
    "Resources": "waiting for resources: every node that could run it is busy",
    "Priority": "waiting for jobs of higher priority to start first",
    "Dependency": "waiting for the tasks it depends on to finish",
    "BeginTime": "held until its start time (--hold-until)",
    "JobHeldUser": "held by its user",
    "JobHeldAdmin": "held by an administrator",
    "ReqNodeNotAvail": "a node it needs is not available",
    "PartitionDown": "its partition is down",
    "PartitionInactive": "its partition is not taking jobs",
    "PartitionNodeLimit": "it asks for more nodes than its partition allows",
    "PartitionTimeLimit": "its --max-runtime is longer than its partition allows",
    "NodeDown": "a node it needs is down",
    "Licenses": "waiting for licenses",
    "Reservation": "waiting for its reservation",
    "AssocGrpCpuLimit": "its account's CPU limit is reached",
    "AssocGrpJobsLimit": "its account's job limit is reached",
    "AssocMaxJobsLimit": "its account's limit of running jobs is reached",
    "DependencyNeverSatisfied": "a task it depends on failed; it will never start",
}


def pending_words(reason: str) -> str:
    """Why a job is pending, in words (QOS limits named as such), with Slurm's own word."""
    words = PENDING_REASONS.get(reason)
    if words is None and reason.startswith("QOS"):
        words = "a limit of its QOS (quality of service) is reached"
    return f"{words} ({reason})" if words else f"pending: {reason}"


def job_state(job_id: str, job: JobState) -> ContractState:
    """What Slurm's record of a job tells core: still active, or ended with an outcome.

    Slurm's own words (its state and reason) go into the note, not the reason,
    so reasons stay the same on every cluster.
    """
    ended = outcome(job)
    if ended is None:
        if job.state == "PENDING" and job.reason and job.reason != "None":
            return ContractState.active(waiting=pending_words(job.reason))
        return ContractState.active()
    reason = f" ({job.reason})" if job.reason and job.reason != "None" else ""
    return ContractState.ended(ended, f"Slurm job {job_id} ended {job.state}{reason}")
