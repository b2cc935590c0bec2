"""What a Slurm job state means for a hipercow task whose runner left no outcome.

The runner on the node records success or failure itself. When the job ended
without that (the scheduler killed it, the node died, the script never got
as far as the runner), the state Slurm reports is turned into the task's
terminal status, with a short reason a user can act on.

Slurm's state alone can mislead, so the job's own output (what the batch
script and slurmstepd wrote) is read too: a job killed for its memory use
without cgroups ends `FAILED` by signal 9 and only its output says "exceeded
memory limit"; sacct reports exit 137 as `9:0`, while the batch script wrote
the exact code; a setup line that failed names itself there. What the
output tells goes into the note, in plain words.
"""

from __future__ import annotations

import re
from typing import NamedTuple

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


#: What slurmstepd writes into a job's output when it killed the job for memory.
_MEMORY_MESSAGES = ("exceeded memory limit", "exceeded job memory limit", "oom_kill", "oom-kill")
#: The batch script's last line (templates/job.sh): the runner's exact exit code.
_RUNNER_EXIT = re.compile(r"^hipercow: runner exited with code (\d+)", re.MULTILINE)
#: The batch script's line when one of the driver's setup lines failed.
_SETUP_FAILED = re.compile(r"^hipercow: setup failed \(exit (\d+)\): (.*)$", re.MULTILINE)
LAUNCH_HINT = (
    "Slurm could not start the job on its node (slurmd error {code}): the output file's "
    "directory or the working directory may not exist there. Is the project at the same "
    "path on the nodes? If not, set the slurm driver's node_project option."
)
SETUP_HINT = (
    " 'module' is defined by the shell's login scripts, which a job may start without "
    "(e.g. with --export=NONE): set the slurm driver's login_shell=true."
)


class Ended(NamedTuple):
    """A finished job's outcome, and what the job's output added to Slurm's word."""

    outcome: Outcome
    detail: str | None = None


def is_active(state: str) -> bool:
    return state in ACTIVE_STATES


def is_requeued(job: JobState) -> bool:
    """Slurm put the job back in the queue (node failure, preemption, `scontrol requeue`)."""
    return job.restarts > 0 and job.state in ("PENDING", "REQUEUED", "REQUEUE_HOLD")


def outcome(job: JobState, output: str | None = None) -> Outcome | None:
    """The task outcome a finished job implies; None while the job is active."""
    ended = explain(job, output)
    return None if ended is None else ended.outcome


def explain(job: JobState, output: str | None = None) -> Ended | None:
    """The outcome of a finished job, and why, from its state and its output.

    `output` is what the job wrote (its --output file), read for what the
    state cannot say: memory kills, the exact exit code, a failed setup line.
    """
    if is_active(job.state):
        return None
    text = output or ""
    fixed = _FIXED.get(job.state)
    if fixed is not None:
        return Ended(fixed)
    if job.state == "CANCELLED":
        if job.reason == "DependencyNeverSatisfied":
            # --kill-on-invalid-dep: Slurm cancelled it because a dependency failed.
            return Ended(outcomes.failure(outcomes.DEPENDENCY_FAILED))
        if killed_for_memory(text):
            return Ended(outcomes.failure(outcomes.OUT_OF_MEMORY, 137))
        return Ended(outcomes.cancelled())
    if job.launch_error is not None:
        hint = LAUNCH_HINT.format(code=job.launch_error)
        return Ended(outcomes.failure(outcomes.NOT_STARTED), hint)
    code = shell_exit_code(job, text)
    if job.state == "FAILED":
        if killed_for_memory(text):
            return Ended(outcomes.failure(outcomes.OUT_OF_MEMORY, code))
        setup = setup_failure(text)
        if setup is not None:
            return Ended(outcomes.failure(outcomes.NOT_STARTED, code), setup)
        reason = outcomes.signal_reason(job.signal) if job.signal else outcomes.JOB_FAILED
        return Ended(Outcome(TaskStatus.FAILURE, reason, code))
    # COMPLETED (or any state this version does not know) without the runner's
    # own record: the task's outcome was never written.
    return Ended(Outcome(TaskStatus.FAILURE, outcomes.LOST, code))


def killed_for_memory(output: str) -> bool:
    """Whether slurmstepd said it killed the job over its memory (or the kernel's OOM did)."""
    text = output.lower()
    return any(message in text for message in _MEMORY_MESSAGES)


def setup_failure(output: str) -> str | None:
    """Which of the driver's setup lines failed, as the batch script reported it."""
    found = _SETUP_FAILED.findall(output)
    if not found:
        return None
    code_text, line = found[-1]
    detail = f"the setup line '{line.strip()}' exited with code {code_text}"
    if code_text == "127":
        detail += " (command not found)."
        if line.strip().split()[:1] in (["module"], ["ml"]):
            detail += SETUP_HINT
    return detail


def runner_exit_code(output: str) -> int | None:
    """The exit code the batch script saw the runner end with, from its last report."""
    found = _RUNNER_EXIT.findall(output)
    return int(found[-1]) if found else None


def shell_exit_code(job: JobState, output: str = "") -> int | None:
    """An exit code as a shell would show it: 128 + signal for a killed process.

    sacct takes 128 off exit codes of 128 and over, so when it is the source
    the batch script's own report of the code, if the output has one, wins.
    """
    if job.signal:
        return 128 + job.signal
    if job.source == "sacct":
        written = runner_exit_code(output)
        if written is not None and written % 128 == (job.exit_code or 0) % 128:
            return written
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


def job_state(job_id: str, job: JobState, output: str | None = None) -> ContractState:
    """What Slurm's record of a job tells core: still active, or ended with an outcome.

    Slurm's own words (its state and reason) go into the note, not the reason,
    so reasons stay the same on every cluster; so does what the job's output
    told (which setup line failed, why the job could not start).
    """
    ended = explain(job, output)
    if ended is None:
        waiting = None
        if job.state == "PENDING" and job.reason and job.reason != "None":
            waiting = pending_words(job.reason)
        if is_requeued(job):
            # Shown as why it waits: a requeued job looks like any pending one otherwise.
            again = f"requeued by Slurm (restart {job.restarts}); waits to run again"
            return ContractState.active(
                f"Slurm requeued job {job_id} (restart {job.restarts})",
                waiting=f"{again}: {waiting}" if waiting else again,
            )
        if waiting is not None:
            return ContractState.active(waiting=waiting)
        return ContractState.active()
    reason = f" ({job.reason})" if job.reason and job.reason != "None" else ""
    note = f"Slurm job {job_id} ended {job.state}{reason}"
    if ended.detail:
        note += f": {ended.detail}"
    return ContractState.ended(ended.outcome, note)
