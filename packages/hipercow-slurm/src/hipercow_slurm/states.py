"""What a Slurm job state means for a hipercow task whose runner left no outcome.

The runner on the node records success or failure itself. When the job ended
without that (the scheduler killed it, the node died, the script never got
as far as the runner), the state Slurm reports is turned into the task's
terminal status, with a short reason a user can act on.
"""

from __future__ import annotations

from typing import NamedTuple

from hipercow_core.dependencies import DEPENDENCY_FAILED
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

LOST = "lost"


class Outcome(NamedTuple):
    status: TaskStatus
    reason: str
    exit_code: int | None = None


_FIXED: dict[str, Outcome] = {
    "TIMEOUT": Outcome(TaskStatus.FAILURE, "timed out"),
    "OUT_OF_MEMORY": Outcome(TaskStatus.FAILURE, "out of memory"),
    "NODE_FAIL": Outcome(TaskStatus.FAILURE, "node failure"),
    "BOOT_FAIL": Outcome(TaskStatus.FAILURE, "node failure"),
    "PREEMPTED": Outcome(TaskStatus.FAILURE, "preempted"),
    "DEADLINE": Outcome(TaskStatus.FAILURE, "deadline reached"),
    "SPECIAL_EXIT": Outcome(TaskStatus.FAILURE, "special exit"),
    "REVOKED": Outcome(TaskStatus.CANCELLED, "revoked"),
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
            return Outcome(TaskStatus.FAILURE, DEPENDENCY_FAILED)
        return Outcome(TaskStatus.CANCELLED, "cancelled")
    code = shell_exit_code(job)
    if job.state == "FAILED":
        if job.signal:
            reason = f"job failed: killed by signal {job.signal}"
        elif job.reason and job.reason != "NonZeroExitCode":
            reason = f"job failed ({job.reason})"
        else:
            reason = "job failed"
        return Outcome(TaskStatus.FAILURE, reason, code)
    # COMPLETED (or any state this version does not know) without the runner's
    # own record: the task's outcome was never written.
    return Outcome(TaskStatus.FAILURE, LOST, code)


def shell_exit_code(job: JobState) -> int | None:
    """An exit code as a shell would show it: 128 + signal for a killed process."""
    if job.signal:
        return 128 + job.signal
    return job.exit_code
