"""Asking Slurm about jobs: one squeue per poll for every task, at most every 2 s.

One `squeue --me --states=all` call covers all of this user's jobs: those
still queued or running, and those that ended recently enough to be in the
controller's memory (MinJobAge), with their final state and exit status,
which is the same record `scontrol show job` would print. `--me` matters:
asked about several job ids without it, the controller packs every job on
the cluster to answer. Jobs the answer lacks (another user's, in a shared
project, or ones the controller forgot) are then asked about by id; only
jobs it no longer knows are put to `sacct`, in one call, when accounting
exists.

Every CLI command is a process of its own, so the last answer is kept in
the root's per-machine cache (`slurm-queue.json`) as well as in memory: a
shell loop of `hipercow task status ID` makes one squeue every MIN_INTERVAL,
not one per task, and a question the last answer does not cover waits out
the interval since the last call first, whichever process made it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from pathlib import Path

import msgspec

from hipercow_core.errors import DriverError
from hipercow_core.fsutil import atomic_write, read_bytes
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

#: Seconds between two squeue calls, at least, from all the processes sharing a cache.
MIN_INTERVAL = 2.0
CACHE_FILE = "slurm-queue.json"

_INVALID_JOB = "invalid job id"
_NO_ACCOUNTING = ("accounting storage is disabled", "slurmdbd", "not running a supported")


class Answer(msgspec.Struct):
    """One poll: when (wall clock, comparable across processes) and what Slurm said.

    `states` holds every job of this user the controller knows, and those
    asked about by id; `checked` the ids asked about by id, known or not.
    """

    time: float
    states: dict[str, JobState]
    checked: list[str] = []

    def covers(self, asked: Collection[str]) -> bool:
        checked = set(self.checked)
        return all(job in self.states or job in checked for job in asked)


class _Memory:
    lock = threading.Lock()
    answer: Answer | None = None
    last_call: float = float("-inf")
    accounting: bool | None = None


def array_job(job_id: str) -> str:
    """The job id squeue is asked about: the array's own id for an array element."""
    return job_id.split("_", 1)[0]


def job_states(
    job_ids: Collection[str], *, budget: Budget, cache: Path | None = None
) -> dict[str, JobState]:
    """What Slurm knows about these jobs (`123` or `123_4`); unknown ones are absent.

    `cache` is the directory shared by this machine's processes (the root's
    per-machine cache); without it the answer is shared within this process.
    """
    asked = frozenset(job_ids)
    if not asked:
        return {}
    with _Memory.lock:
        answer = _latest(cache)
        now = time.time()
        if answer is not None and now - answer.time < MIN_INTERVAL and answer.covers(asked):
            return answer.states
        last = max(_Memory.last_call, answer.time if answer is not None else float("-inf"))
        pause = MIN_INTERVAL - (now - last)
        if pause > 0:
            time.sleep(pause)
        _Memory.last_call = time.time()
        states = _squeue_mine(budget)
        absent = sorted(j for j in asked if j not in states)
        if absent:
            states.update(_squeue_ids(sorted({array_job(j) for j in absent}), budget))
        answer = Answer(_Memory.last_call, states, absent)
        _Memory.answer = answer
        _save(cache, answer)
        return states


def _latest(cache: Path | None) -> Answer | None:
    """The newer of this process's last answer and the one saved by any process."""
    saved = _load(cache)
    mine = _Memory.answer
    if saved is None or (mine is not None and mine.time >= saved.time):
        return mine
    return saved


def _load(cache: Path | None) -> Answer | None:
    if cache is None:
        return None
    raw = read_bytes(cache / CACHE_FILE)
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw, type=Answer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _save(cache: Path | None, answer: Answer) -> None:
    if cache is None:
        return
    try:
        cache.mkdir(parents=True, exist_ok=True)
        atomic_write(cache / CACHE_FILE, msgspec.json.encode(answer))
    except OSError as e:  # only a cache: the next process asks Slurm itself
        log.debug("could not save the squeue answer", error=str(e))


def forget(cache: Path | None = None) -> None:
    """Drop the remembered answer, e.g. after submitting or cancelling jobs."""
    with _Memory.lock:
        _Memory.answer = None
        if cache is not None:
            (cache / CACHE_FILE).unlink(missing_ok=True)


def has_accounting() -> bool:
    """Whether sacct answered in this process: jobs gone from squeue can still be found."""
    return _Memory.accounting is True


def reset() -> None:
    """Forget everything this process learnt, including whether accounting exists."""
    with _Memory.lock:
        _Memory.answer = None
        _Memory.last_call = float("-inf")
        _Memory.accounting = None


def _squeue_mine(budget: Budget) -> dict[str, JobState]:
    """Every job of this user that the controller knows, array elements one by one."""
    args = ["--noheader", "--me", "--array", "--states=all", f"--Format={SQUEUE_FORMAT}"]
    return parse_squeue(commands.run_retrying("squeue", args, budget=budget).stdout)


def _squeue_ids(job_ids: list[str], budget: Budget) -> dict[str, JobState]:
    """Jobs asked about by id: another user's, or ones the controller may have forgotten."""
    args = [
        "--noheader",
        "--array",
        "--states=all",
        f"--jobs={','.join(sorted(job_ids, key=_job_sort_key))}",
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


def accounting_states(
    job_ids: Collection[str], *, budget: Budget, names: Mapping[str, str] | None = None
) -> dict[str, JobState] | None:
    """Final states from sacct for jobs the controller has forgotten.

    Without accounting (disabled, as on clusters with no slurmdbd, or sacct
    not installed) nothing is known about them: an empty answer. None means
    sacct could not be asked just now, so nothing should be concluded yet.
    Whether accounting exists is remembered for the life of the process.
    `names` maps job ids to the names they were submitted with: after a
    cluster's job ids start again, sacct answers for the newest job with a
    number, and a job of another name is not the one asked about.
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
    states = parse_sacct(output.stdout)
    expected = names or {}
    return {
        job: state
        for job, state in states.items()
        if job not in expected or state.name is None or state.name == expected[job]
    }
