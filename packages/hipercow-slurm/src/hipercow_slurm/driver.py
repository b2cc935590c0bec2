"""The `slurm` driver: hipercow tasks as Slurm jobs and job arrays.

Every method takes many tasks and makes one call to Slurm for all of them
(one sbatch per array, one squeue per poll, one scancel), because clusters
punish one request per job. The task files stay the source of truth: Slurm
is asked only about tasks the files call submitted or running, and what it
says about jobs that ended without their task recording an outcome is
written back as the task's terminal marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

import msgspec

from hipercow_core.errors import DriverError
from hipercow_core.log import get_logger
from hipercow_core.root import Root
from hipercow_core.schema import ClusterInfo, FinishedMarker, TaskStatus
from hipercow_core.store import file_status, mark_finished, read_markers
from hipercow_slurm import cluster_info, commands, jobfiles, queue
from hipercow_slurm.commands import Budget, SlurmError
from hipercow_slurm.options import SlurmOptions
from hipercow_slurm.parsing import JobState, parse_scancel_errors
from hipercow_slurm.states import LOST, Outcome, is_active, outcome
from hipercow_slurm.submission import DRIVER, Submission

log = get_logger(__name__)


class SlurmDriver:
    """Runs tasks on a Slurm cluster through sbatch, squeue, scancel and sinfo."""

    name: ClassVar[str] = DRIVER
    options_type: ClassVar[type[msgspec.Struct]] = SlurmOptions
    #: `wait` backs off to this many seconds between polls of a long task.
    max_poll_interval: ClassVar[float] = 30.0

    def __init__(self, root: Root, options: msgspec.Struct) -> None:
        assert isinstance(options, SlurmOptions)
        self.root = root
        self.options = options

    @property
    def build_queue(self) -> str | None:
        """The partition environment provisioning jobs go to (hipercow-provision reads it)."""
        return self.options.build_partition

    def submit(self, task_ids: Sequence[str]) -> None:
        """Submit tasks as few jobs as their resources allow; raise for those left `created`."""
        if not task_ids:
            return
        budget = Budget()
        cluster = self._cluster(budget)
        try:
            report = Submission(self.root, self.options, cluster, budget).run(task_ids)
        finally:
            queue.forget()
        error = report.error(len(task_ids))
        if error is not None:
            raise error

    def status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """Statuses from the files, after writing outcomes Slurm knows and the files lack."""
        result = {task_id: file_status(self.root, task_id) for task_id in task_ids}
        jobs = {
            task_id: job_id
            for task_id, status in result.items()
            if status.is_active and (job_id := self._job_id(task_id)) is not None
        }
        if not jobs:
            return result
        budget = Budget()
        try:
            states = queue.job_states(jobs.values(), budget=budget)
        except SlurmError as e:
            raise _refusal("squeue", e) from None
        ended: dict[str, JobState | None] = {}
        for task_id, job_id in jobs.items():
            state = states.get(job_id)
            if state is None or not is_active(state.state):
                ended[task_id] = state
        forgotten = [jobs[task_id] for task_id, state in ended.items() if state is None]
        accounting = queue.accounting_states(forgotten, budget=budget)
        for task_id, state in ended.items():
            known = state
            if known is None:
                if accounting is None:
                    continue  # sacct could not be asked now; conclude nothing yet
                known = accounting.get(jobs[task_id])
            result[task_id] = self._settle(task_id, jobs[task_id], known)
        return result

    def _settle(self, task_id: str, job_id: str, state: JobState | None) -> TaskStatus:
        """Write the outcome of a job that ended, unless the task wrote its own meanwhile.

        The runner may have written its marker after the files were first
        read, so they are read again; and the write itself refuses to replace
        a marker that appeared in between.
        """
        status = file_status(self.root, task_id)
        if status.is_terminal:
            return status
        if state is None:
            result = Outcome(TaskStatus.FAILURE, LOST)
            detail = f"Slurm no longer knows job {job_id} and the task recorded no outcome"
        else:
            ended = outcome(state)
            if ended is None:
                return status
            result = ended
            detail = f"Slurm job {job_id} ended {state.state}" + (
                f" ({state.reason})" if state.reason else ""
            )
        marker = FinishedMarker(
            result.status, datetime.now(UTC), exit_code=result.exit_code, reason=result.reason
        )
        if mark_finished(self.root, task_id, marker):
            jobfiles.note(
                self.root, task_id, f"{detail}: task marked {result.status} ({result.reason})"
            )
            log.info("task settled from slurm", task=task_id, job=job_id, status=str(result.status))
        return file_status(self.root, task_id)

    def cancel(self, task_ids: Sequence[str]) -> dict[str, bool]:
        """Cancel with one scancel; a task counts as cancelled only if Slurm cancelled its job."""
        result: dict[str, bool] = {}
        jobs: dict[str, str] = {}
        for task_id in task_ids:
            status = file_status(self.root, task_id)
            job_id = self._job_id(task_id) if status.is_active else None
            if status.is_terminal:
                result[task_id] = False
            elif job_id is None:
                result[task_id] = self._mark_cancelled(task_id, "cancelled before submission")
            else:
                jobs[task_id] = job_id
        if jobs:
            budget = Budget()
            try:
                output = commands.run_retrying(
                    "scancel", ["--verbose", *sorted(set(jobs.values()))], budget=budget
                )
            except SlurmError as e:
                raise _refusal("scancel", e) from None
            finally:
                queue.forget()
            refused = parse_scancel_errors(output.stderr)
            for task_id, job_id in jobs.items():
                if job_id in refused:
                    log.info("scancel refused", task=task_id, job=job_id, reason=refused[job_id])
                    result[task_id] = False
                else:
                    result[task_id] = self._mark_cancelled(task_id, f"scancel {job_id}")
        return result

    def _mark_cancelled(self, task_id: str, detail: str) -> bool:
        marker = FinishedMarker(TaskStatus.CANCELLED, datetime.now(UTC), reason="cancelled")
        if not mark_finished(self.root, task_id, marker):
            return False
        jobfiles.note(self.root, task_id, f"cancelled by hipercow ({detail})")
        return True

    def outer_log(self, task_id: str) -> str | None:
        """Slurm's output for the task's job, then the driver's own notes on it.

        Before the job has started Slurm has written nothing, so the log says
        what squeue says about it (e.g. pending until its begin time).
        """
        record = jobfiles.read_record(self.root, task_id)
        if record is None:
            return jobfiles.read_notes(self.root, task_id)
        parts = [jobfiles.read_output(self.root, record) or ""]
        if not parts[0] and file_status(self.root, task_id).is_active:
            parts.append(self._queue_note(record.job_id))
        parts.append(jobfiles.read_notes(self.root, task_id) or "")
        text = "".join(p if p.endswith("\n") or not p else p + "\n" for p in parts)
        return text or None

    def _queue_note(self, job_id: str) -> str:
        try:
            state = queue.job_states([job_id], budget=Budget(commands.DEFAULT_BUDGET / 2)).get(
                job_id
            )
        except (DriverError, SlurmError) as e:  # the log is worth showing without the queue
            return f"hipercow: Slurm job {job_id} has written no output yet ({e})"
        if state is None:
            return f"hipercow: Slurm job {job_id} has written no output and is not in the queue"
        reason = f", reason: {state.reason}" if state.reason else ""
        return f"hipercow: Slurm job {job_id} has written no output yet: {state.state}{reason}"

    def cluster_info(self) -> ClusterInfo:
        return self._cluster(Budget())

    def _cluster(self, budget: Budget) -> ClusterInfo:
        return cluster_info.cluster_info(
            self.root, default_partition=self.options.partition, budget=budget
        )

    def _job_id(self, task_id: str) -> str | None:
        marker = read_markers(self.root, task_id).submitted
        if marker is None or marker.driver != DRIVER:
            return None
        return marker.job_id


def _refusal(program: str, error: SlurmError) -> DriverError:
    """A Slurm command that failed for good, as an error a user can read."""
    return DriverError(
        f"Slurm's {program} failed: {error.message}",
        "Check the cluster with 'sinfo' and 'squeue --me'; rerun with -v for details.",
    )
