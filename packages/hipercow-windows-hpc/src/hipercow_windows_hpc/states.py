"""What the portal's job states mean for a task: still there, ended how, or cancelled.

HPC Pack reports more states than the five a listing usually shows: passing
ones (`Configuring`, `Submitted`, `Validating`, `Finishing`, `Canceling`) and
perhaps others nobody has recorded. Only a job the portal no longer knows is
gone; any text that is not a final state means the job is still there, so a
task is never failed because the portal used a word hipercow has not seen.
"""

from __future__ import annotations

from typing import Literal

from hipercow_core import outcomes
from hipercow_core.drivers.protocol import JobState as TaskJobState
from hipercow_core.outcomes import Outcome

#: The five states of the listing, spelled as the portal spells them.
JobState = Literal["Queued", "Running", "Finished", "Failed", "Canceled"]

_STATES: dict[str, JobState] = {
    "queued": "Queued",
    "running": "Running",
    "finished": "Finished",
    "failed": "Failed",
    "canceled": "Canceled",
    "cancelled": "Canceled",
}
_CANCELLING = {"canceled", "cancelled", "canceling", "cancelling"}
_ENDED = {"finished", "failed", *_CANCELLING}

#: What a job that ended means for a task whose runner recorded no outcome.
_ENDINGS: dict[JobState, Outcome] = {
    "Failed": outcomes.failure(outcomes.JOB_FAILED),
    "Canceled": outcomes.cancelled(),
    "Finished": outcomes.failure(outcomes.LOST),
}


def normalise_state(text: str) -> JobState | None:
    """One of the five states (`Cancelled` read as `Canceled`); None for any other text.

    None means "still there, state unknown": a passing state, or a new word.
    """
    return _STATES.get(text.strip().lower())


def is_cancelled(text: str) -> bool:
    """Whether the job is cancelled or being cancelled (`Canceling` counts: it is under way)."""
    return text.strip().lower() in _CANCELLING


def has_ended(text: str) -> bool:
    """Whether the job will not run (on): finished, failed, cancelled or being cancelled."""
    return text.strip().lower() in _ENDED


#: The portal's words for a job that has not started yet.
_NOT_STARTED = frozenset({"Queued", "Submitted", "Validating", "Configuring", "ExternalValidation"})


def job_state(job_id: str, text: str | None) -> TaskJobState:
    """What the portal's word for a job (None: it does not know the job) means for its task.

    Only a job the portal does not know is unknown; Failed, Canceled and
    Finished are ended; any other word (Queued, Running, a passing state, a
    word not seen before) means the job is still there.
    """
    if text is None:
        return TaskJobState.unknown(f"the portal no longer knows job {job_id}")
    state = normalise_state(text)
    if state is None or state not in _ENDINGS:
        queued = (state or text.strip()) in _NOT_STARTED
        shown = state or text.strip()
        return TaskJobState.active(waiting=f"{shown} on the portal" if queued else None)
    return TaskJobState.ended(_ENDINGS[state], f"the portal reports job {job_id} {state}")
