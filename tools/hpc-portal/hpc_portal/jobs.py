"""Jobs and their state machine: Queued -> Running -> Finished/Failed (or Canceled).

Windows jobs are simulated: they wait ``timings.queued`` seconds, run for
``timings.running`` seconds and end as ``timings.outcome`` (or the outcome
configured for their name). LinuxNodes jobs really run, through
:mod:`.processes`, and end Finished on exit status 0 and Failed otherwise.

Dependencies: a job stays Queued until every job it depends on is Finished.
If any of them ends Failed or Canceled the job can never run. With the
``cancel`` dependents mode the stand-in marks it Canceled at once; with
``queued`` it leaves it Queued for ever, which is what the real portal may do
(no public client sends ``dep``, so nobody knows), and the driver must notice.

Besides the five states a job is in, HPC Pack shows passing ones: a new job
is ``Submitted`` then ``Validating`` before ``Queued``, an ended one
``Finishing`` for a moment, and a job being cancelled ``Canceling`` until the
(slow) cancel call answers. Those are shown, not kept: ``state`` is where the
job really is, ``shown_state`` what the portal says.

A background thread advances the states every few milliseconds, and every
request advances them first too, so answers never lag the clock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import PortalConfig, Timings
from .mounts import MountTable, ShareTable, prepare_linux_command
from .processes import JobProcess
from .protocol import (
    CANCELED,
    CANCELING,
    FAILED,
    FINAL_STATES,
    FINISHED,
    FINISHING,
    QUEUED,
    RUNNING,
    SUBMITTED,
    VALIDATING,
)

_TICK = 0.01
#: Cancel results, as the portal words them.
CANCEL_OK = "OK"
CANCEL_WRONG_STATE = "WRONG_STATE"
CANCEL_WRONG_USER = "WRONG_USER."
CANCEL_NOT_FOUND = "NOT_FOUND"


@dataclass
class JobRequest:
    """What a valid submit asks for, one job (one line of ``jobs``)."""

    user: str
    name: str
    template: str
    node_os: str
    command: str
    workdir: str
    deps: list[int]
    cores: int
    resource_type: str
    resources: dict[str, str]
    hold_until: float | None = None
    max_runtime: float | None = None
    requested_nodes: list[str] = field(default_factory=list)


@dataclass
class Job:
    """One job as the scheduler knows it (``to_json`` is what tests see)."""

    id: int
    request: JobRequest
    submit_time: float
    queued_seconds: float
    running_seconds: float
    outcome: str
    transient_seconds: float = 0.0
    state: str = QUEUED
    canceling_until: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    log: str = ""
    exit_code: int | None = None
    note: str | None = None
    translated_command: str | None = None
    cwd: str | None = None
    pgid: int | None = None
    process: JobProcess | None = None
    copies: list[Path] = field(default_factory=list)

    def shown_state(self, now: float) -> str:
        """The state the portal reports: the real one, or a passing state before or after it."""
        if self.state == QUEUED:
            age = now - self.submit_time
            if age < self.transient_seconds:
                return SUBMITTED
            if age < 2 * self.transient_seconds:
                return VALIDATING
        if self.state == CANCELED:
            canceling = self.canceling_until is not None and now < self.canceling_until
            return CANCELING if canceling else CANCELED
        ran = self.start_time is not None and self.end_time is not None
        if ran and self.state in (FINISHED, FAILED):
            assert self.end_time is not None
            if now < self.end_time + self.transient_seconds:
                return FINISHING
        return self.state

    def to_json(self, now: float) -> dict[str, Any]:
        """A JSON-able snapshot for tests and the control endpoint."""
        req = self.request
        return {
            "id": self.id,
            "user": req.user,
            "name": req.name,
            "template": req.template,
            "node_os": req.node_os,
            "command": req.command,
            "workdir": req.workdir,
            "deps": list(req.deps),
            "cores": req.cores,
            "resource_type": req.resource_type,
            "resources": dict(req.resources),
            "state": self.state,
            "shown_state": self.shown_state(now),
            "submit_time": self.submit_time,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "log": self.log,
            "exit_code": self.exit_code,
            "note": self.note,
            "translated_command": self.translated_command,
            "cwd": self.cwd,
            "pgid": self.pgid,
        }


class JobStore:
    """All jobs of one stand-in, with the thread that moves them along."""

    def __init__(
        self, config: PortalConfig, scratch: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self._config = config
        self._scratch = scratch
        self._clock = clock
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}
        self._next_id = config.first_job_id
        self._timings = Timings(**vars(config.timings))
        self._mounts = MountTable(config.mounts)
        self._shares = ShareTable(config.windows_shares)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="standin-scheduler")
        self._thread.daemon = True

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start advancing job states in the background."""
        self._thread.start()

    def close(self) -> None:
        """Stop the scheduler and kill every job process this store started."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._kill_all()

    def reset(self) -> None:
        """Forget every job (killing those running) and restart the id sequence."""
        self._kill_all()
        with self._lock:
            self._jobs.clear()
            self._next_id = self._config.first_job_id
            self._timings = Timings(**vars(self._config.timings))

    def _kill_all(self) -> None:
        with self._lock:
            processes = [job.process for job in self._jobs.values() if job.process is not None]
            for job in self._jobs.values():
                if job.state == RUNNING and job.process is not None:
                    self._end(job, CANCELED, note="stand-in shut down")
        for process in processes:
            process.kill()
        for process in processes:
            process.wait(10.0)

    # -- configuration -------------------------------------------------------

    @property
    def timings(self) -> Timings:
        """The timings new jobs get (a copy)."""
        with self._lock:
            return Timings(**vars(self._timings))

    def set_timings(self, **changes: float | str | None) -> Timings:
        """Change the timings (any of `Timings`' fields) for jobs submitted from now on."""
        with self._lock:
            new = Timings(**vars(self._timings))
            for name, value in changes.items():
                if name not in vars(new):
                    raise ValueError(f"no timing {name!r}")
                if value is not None:
                    setattr(new, name, value if name == "outcome" else float(value))
            new.validate()
            self._timings = new
            return Timings(**vars(new))

    # -- protocol operations -------------------------------------------------

    def exists(self, job_id: int) -> bool:
        """Whether a job with this id was submitted (since the last reset)."""
        with self._lock:
            return job_id in self._jobs

    def submit(self, requests: list[JobRequest]) -> list[int]:
        """Queue jobs; returns their ids, consecutive and increasing."""
        now = self._clock()
        ids: list[int] = []
        with self._lock:
            for request in requests:
                job_id = self._next_id
                self._next_id += 1
                outcome = self._config.windows_outcomes.get(request.name, self._timings.outcome)
                self._jobs[job_id] = Job(
                    id=job_id,
                    request=request,
                    submit_time=now,
                    queued_seconds=self._timings.queued,
                    running_seconds=self._timings.running,
                    outcome=outcome,
                    transient_seconds=self._timings.transient,
                )
                ids.append(job_id)
        self.advance()
        return ids

    def cancel(self, job_id: int, user: str) -> str:
        """Cancel one job for ``user``; returns the portal's result word.

        The job is Canceled at once, but shows ``Canceling`` for ``timings.cancel``
        seconds: as long as the cancel call takes to answer (see ``cancel_seconds``).
        """
        self.advance()
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return CANCEL_NOT_FOUND
            if job.request.user != user:
                return CANCEL_WRONG_USER
            if job.state in FINAL_STATES:
                return CANCEL_WRONG_STATE
            self._end(job, CANCELED, note=f"canceled by {user}")
            if self._timings.cancel > 0:
                job.canceling_until = self._clock() + self._timings.cancel
            if job.process is not None:
                job.process.kill()
        self.advance()
        return CANCEL_OK

    @property
    def cancel_seconds(self) -> float:
        """How long a cancel call takes to answer (the portal's are slow)."""
        with self._lock:
            return self._timings.cancel

    def get(self, job_id: int) -> dict[str, Any] | None:
        """A snapshot of one job, or None."""
        self.advance()
        with self._lock:
            job = self._jobs.get(job_id)
            return job.to_json(self._clock()) if job is not None else None

    def all(self) -> list[dict[str, Any]]:
        """Snapshots of every job, oldest first."""
        self.advance()
        with self._lock:
            now = self._clock()
            return [self._jobs[k].to_json(now) for k in sorted(self._jobs)]

    def set_state(self, job_id: int, state: str) -> None:
        """Force a job into a final state (a test hook: e.g. make a job fail now)."""
        if state not in FINAL_STATES:
            raise ValueError(f"can only force a final state {FINAL_STATES}")
        with self._lock:
            job = self._jobs[job_id]
            if job.state not in FINAL_STATES:
                self._end(job, state, note=f"forced to {state} by the test")
                if job.process is not None:
                    job.process.kill()
        self.advance()

    # -- the state machine ---------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(_TICK):
            self.advance()

    def advance(self) -> None:
        """Move every job along as far as the clock allows."""
        now = self._clock()
        with self._lock:
            for job_id in sorted(self._jobs):
                job = self._jobs[job_id]
                if job.state == QUEUED:
                    self._advance_queued(job, now)
                if job.state == RUNNING:
                    self._advance_running(job, now)

    def _advance_queued(self, job: Job, now: float) -> None:
        req = job.request
        dep_states = {dep: self._jobs[dep].state if dep in self._jobs else None for dep in req.deps}
        broken = [dep for dep, state in dep_states.items() if state in (FAILED, CANCELED, None)]
        if broken and self._config.modes.dependents == "cancel":
            self._end(job, CANCELED, note=f"dependency {broken[0]} did not finish", now=now)
            return
        if any(state != FINISHED for state in dep_states.values()):
            return
        if req.hold_until is not None and now < req.hold_until:
            return
        if now < job.submit_time + max(job.queued_seconds, 2 * job.transient_seconds):
            return
        job.state = RUNNING
        job.start_time = now
        if req.node_os == "linux":
            self._start_linux(job)
        else:
            self._start_windows(job)

    def _advance_running(self, job: Job, now: float) -> None:
        start = job.start_time if job.start_time is not None else now
        limit = job.request.max_runtime
        if limit is not None and now >= start + limit:
            self._end(job, FAILED, note="exceeded its maximum run time (rnt)", now=now)
            if job.process is not None:
                job.process.kill()
            return
        if job.request.node_os == "windows" and now >= start + job.running_seconds:
            job.exit_code = 0 if job.outcome == FINISHED else 1
            job.log += f"Task exited with code {job.exit_code}.\n"
            self._end(job, job.outcome, now=now)

    def _end(self, job: Job, state: str, note: str | None = None, now: float | None = None) -> None:
        job.state = state
        job.end_time = now if now is not None else self._clock()
        if note is not None:
            job.note = note
            job.log += f"stand-in: job {job.id} {note}.\n"

    def _start_windows(self, job: Job) -> None:
        node = self._config.cluster_info("windows")["nodes"][0]
        job.log += f"Running on {node}: {job.request.command}\n"
        if self._shares:
            problem = self._shares.check_command(job.request.command)
            if problem is not None:
                job.exit_code = 1
                job.log += problem + "\n"
                self._end(job, FAILED, note="could not start its batch file")

    def _start_linux(self, job: Job) -> None:
        req = job.request
        if req.workdir:
            local = self._mounts.translate_path(req.workdir)
            if local is None:
                self._end(job, FAILED, note=f"work dir {req.workdir} is under no configured mount")
                return
            cwd = Path(local)
            if not cwd.is_dir():
                self._end(job, FAILED, note=f"work dir {req.workdir} ({cwd}) does not exist")
                return
        else:
            cwd = self._scratch
        try:
            prepared = prepare_linux_command(job.id, req.command, self._mounts, self._scratch)
        except OSError as exc:
            self._end(job, FAILED, note=f"could not prepare its script: {exc}")
            return
        job.translated_command = prepared.command
        job.copies = prepared.copies
        job.cwd = str(cwd)
        for note in prepared.notes:
            job.log += f"stand-in: {note}\n"
        env = dict(os.environ)
        env.update(self._config.job_env)
        env.update(
            {
                "CCP_JOBID": str(job.id),
                "CCP_JOBNAME": req.name,
                "CCP_NUMCPUS": str(req.cores),
                "CCP_SCHEDULER": self._config.head_node,
            }
        )
        try:
            job.process = JobProcess(
                prepared.command,
                cwd=cwd,
                env=env,
                on_output=lambda text: self._append_log(job, text),
                on_exit=lambda code: self._exited(job, code),
            )
        except OSError as exc:
            self._remove_copies(job)
            self._end(job, FAILED, note=f"could not start: {exc}")
            return
        job.pgid = job.process.pgid

    def _append_log(self, job: Job, text: str) -> None:
        with self._lock:
            job.log += text

    def _exited(self, job: Job, code: int) -> None:
        # ``job`` is the object itself, not its id: after a reset a new job may
        # reuse the id, and a late exit must not touch it.
        with self._lock:
            job.exit_code = code
            if job.state == RUNNING:
                self._end(job, FINISHED if code == 0 else FAILED)
            self._remove_copies(job)

    @staticmethod
    def _remove_copies(job: Job) -> None:
        for copy in job.copies:
            with contextlib.suppress(OSError):
                copy.unlink()
        job.copies = []

    # -- views -----------------------------------------------------------------

    def jobs_of(self, user: str, state: str, limit: int) -> list[Job]:
        """A user's jobs, newest first, optionally of one (shown) state, at most ``limit`` (-1: all)."""
        self.advance()
        now = self._clock()
        with self._lock:
            jobs = [
                job
                for job in sorted(self._jobs.values(), key=lambda j: j.id, reverse=True)
                if job.request.user == user and state in ("*", job.shown_state(now))
            ]
            return jobs if limit < 0 else jobs[:limit]

    def job(self, job_id: int) -> Job | None:
        """The live job object (callers must not keep it across a reset)."""
        self.advance()
        with self._lock:
            return self._jobs.get(job_id)

    def running(self) -> list[Job]:
        """Running jobs, oldest first (for the node table)."""
        self.advance()
        with self._lock:
            return [self._jobs[k] for k in sorted(self._jobs) if self._jobs[k].state == RUNNING]

    @property
    def lock(self) -> threading.RLock:
        """The store's lock, for callers that read several jobs consistently."""
        return self._lock
