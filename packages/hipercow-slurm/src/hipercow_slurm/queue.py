"""Asking Slurm about jobs: one squeue per poll for every task, at most every 2 s.

One `squeue --states=all` call covers all the jobs asked about: those still
queued or running, and those that ended recently enough to be in the
controller's memory (MinJobAge), with their final state and exit status,
which is the same record `scontrol show job` would print. Only jobs it no
longer knows are put to `sacct`, in one call, when accounting exists.

Drivers are constructed afresh for every status call, so the last answer is
kept per process, not per driver: a `wait` loop, or a list after a status,
reuses an answer younger than MIN_INTERVAL instead of asking again, and a
question that the last answer does not cover waits out the interval first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass

from hipercow_core.errors import DriverError
from hipercow_core.log import get_logger
from hipercow_slurm import commands
from hipercow_slurm.commands import Budget, SlurmError
from hipercow_slurm.parsing import (
    SACCT_FORMAT,
    SQUEUE_FORMAT,
    JobState,
    parse_sacct,
    parse_squeue,
)

log = get_logger(__name__)

#: Seconds between two squeue calls from one process, at least.
MIN_INTERVAL = 2.0

_INVALID_JOB = "invalid job id"
_NO_ACCOUNTING = ("accounting storage is disabled", "slurmdbd", "not running a supported")


@dataclass
class _Answer:
    time: float
    asked: frozenset[str]
    states: dict[str, JobState]


class _Memory:
    lock = threading.Lock()
    answer: _Answer | None = None
    last_call: float = float("-inf")
    accounting: bool | None = None


def array_job(job_id: str) -> str:
    """The job id squeue is asked about: the array's own id for an array element."""
    return job_id.split("_", 1)[0]


def job_states(job_ids: Collection[str], *, budget: Budget) -> dict[str, JobState]:
    """What Slurm knows about these jobs (`123` or `123_4`); unknown ones are absent."""
    asked = frozenset(array_job(j) for j in job_ids)
    if not asked:
        return {}
    with _Memory.lock:
        answer = _Memory.answer
        now = time.monotonic()
        if answer is not None and now - answer.time < MIN_INTERVAL and asked <= answer.asked:
            return answer.states
        pause = MIN_INTERVAL - (now - _Memory.last_call)
        if pause > 0:
            time.sleep(pause)
        _Memory.last_call = time.monotonic()
        states = _squeue(asked, budget)
        _Memory.answer = _Answer(time.monotonic(), asked, states)
        return states


def forget() -> None:
    """Drop the remembered answer, e.g. after submitting or cancelling jobs."""
    with _Memory.lock:
        _Memory.answer = None


def reset() -> None:
    """Forget everything this process learnt, including whether accounting exists."""
    with _Memory.lock:
        _Memory.answer = None
        _Memory.last_call = float("-inf")
        _Memory.accounting = None


def _squeue(asked: frozenset[str], budget: Budget) -> dict[str, JobState]:
    args = [
        "--noheader",
        "--array",
        "--states=all",
        f"--jobs={','.join(sorted(asked, key=_job_sort_key))}",
        f"--Format={SQUEUE_FORMAT}",
    ]
    try:
        output = commands.run_retrying("squeue", args, budget=budget)
    except SlurmError as e:
        # squeue fails outright when none of the jobs is known any more.
        if _INVALID_JOB in e.message.lower():
            return {}
        raise
    return parse_squeue(output.stdout)


def _job_sort_key(job_id: str) -> tuple[int, str]:
    return (int(job_id), "") if job_id.isdigit() else (0, job_id)


def accounting_states(job_ids: Collection[str], *, budget: Budget) -> dict[str, JobState] | None:
    """Final states from sacct for jobs the controller has forgotten.

    Without accounting (disabled, as on clusters with no slurmdbd, or sacct
    not installed) nothing is known about them: an empty answer. None means
    sacct could not be asked just now, so nothing should be concluded yet.
    Whether accounting exists is remembered for the life of the process.
    """
    if not job_ids or _Memory.accounting is False:
        return {}
    args = [
        "--noheader",
        "--parsable2",
        "--allocations",
        f"--jobs={','.join(sorted(job_ids))}",
        f"--format={SACCT_FORMAT}",
    ]
    try:
        output = commands.run("sacct", args, timeout=max(1.0, min(budget.remaining(), 15.0)))
    except DriverError:
        _Memory.accounting = False
        log.debug("sacct is not installed; accounting will not be asked again")
        return {}
    except SlurmError as e:
        if any(fragment in e.message.lower() for fragment in _NO_ACCOUNTING):
            _Memory.accounting = False
            log.debug("slurm accounting is disabled; sacct will not be asked again")
            return {}
        log.info("sacct failed", error=e.message)
        return None
    _Memory.accounting = True
    return parse_sacct(output.stdout)
