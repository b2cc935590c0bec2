"""One vocabulary for how tasks end, shared by every driver and the runner.

A terminal marker carries a short `reason` from this vocabulary (what a user
filters and acts on: "timed out", "out of memory") and, separately, a `note`
in plain words with the particulars (which job, what the scheduler said), so
reasons read the same on every cluster and can be counted.
"""

from __future__ import annotations

import msgspec

from hipercow_core.schema import TaskStatus

LOST = "lost"
CANCELLED = "cancelled"
TIMED_OUT = "timed out"
DEADLINE = "deadline reached"
OUT_OF_MEMORY = "out of memory"
NODE_FAILURE = "node failure"
DEPENDENCY_FAILED = "dependency failed"
ENVIRONMENT = "environment"
SECRETS = "secrets"
PREEMPTED = "preempted"
JOB_FAILED = "job failed"
NOT_STARTED = "job ended before the task started"
NO_RESULT = "ended without a result"
UNRECORDED = "outcome not recorded"

#: What each reason means, for `task info` and the documentation.
MEANINGS: dict[str, str] = {
    LOST: "the task's runner stopped without recording an outcome (killed, or its node died)",
    CANCELLED: "cancelled by a user or by hipercow",
    TIMED_OUT: "the scheduler stopped the task at its time limit (--max-runtime)",
    DEADLINE: "the scheduler stopped the task at the deadline it was given",
    OUT_OF_MEMORY: "the task used more memory than it asked for",
    NODE_FAILURE: "the node running the task failed",
    DEPENDENCY_FAILED: "a task it depends on did not succeed, so it never ran",
    ENVIRONMENT: "its environment could not be entered on the node",
    SECRETS: "its secrets could not be decrypted on the node (see the task's log)",
    PREEMPTED: "the scheduler stopped the task to make room for another",
    JOB_FAILED: "the scheduler reports the job failed; see the outer log",
    NOT_STARTED: "the job ended before hipercow's runner started the task; see the outer log",
    NO_RESULT: "a Python task's process ended (exit code 0) without writing its result",
    UNRECORDED: "the runner finished but could not write the outcome (full or read-only disk)",
}


class Outcome(msgspec.Struct, frozen=True, omit_defaults=True):
    """How a task ended: its terminal status, a reason from the vocabulary, an exit code."""

    status: TaskStatus
    reason: str | None = None
    exit_code: int | None = None


def failure(reason: str, exit_code: int | None = None) -> Outcome:
    return Outcome(TaskStatus.FAILURE, reason, exit_code)


def cancelled() -> Outcome:
    return Outcome(TaskStatus.CANCELLED, CANCELLED)


def signal_reason(signal: int) -> str:
    """The reason for a process killed by a signal, in the runner's words."""
    return f"killed by signal {signal}"
