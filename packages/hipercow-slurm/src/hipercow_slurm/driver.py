"""The `slurm` driver: hipercow tasks as Slurm jobs and job arrays.

Every method takes many tasks and makes one call to Slurm for all of them
(one sbatch per array, one squeue per poll, one scancel), because clusters
punish one request per job. It answers what Slurm said (job ids, refusals,
job states, cancellations); core writes every marker from these answers
(see `hipercow_core.jobs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import msgspec

from hipercow_core.drivers.protocol import (
    CancelReport,
    Driver,
    DriverFactory,
    JobRequest,
    JobState,
    SubmitReport,
)
from hipercow_core.errors import DriverError, SchedulerUnavailableError
from hipercow_core.log import get_logger
from hipercow_core.root import Root
from hipercow_core.schema import ClusterInfo
from hipercow_core.store import file_status
from hipercow_slurm import cluster_info, commands, jobfiles, queue
from hipercow_slurm.commands import Budget, SlurmError
from hipercow_slurm.options import SlurmOptions
from hipercow_slurm.parsing import parse_scancel_errors
from hipercow_slurm.states import job_state
from hipercow_slurm.submission import DRIVER, Submission

log = get_logger(__name__)


class SlurmDriver(Driver[SlurmOptions]):
    """Runs tasks on a Slurm cluster through sbatch, squeue, scancel and sinfo."""

    name: ClassVar[str] = DRIVER
    options_type: ClassVar[type[msgspec.Struct]] = SlurmOptions
    #: `wait` backs off to this many seconds between polls of a long task.
    max_poll_interval: ClassVar[float] = 30.0

    def __init__(self, root: Root, options: SlurmOptions) -> None:
        self.root = root
        self.options = options

    def build_queue(self) -> str | None:
        """The partition environment provisioning jobs go to."""
        return self.options.build_partition

    def submit(self, requests: Sequence[JobRequest]) -> SubmitReport:
        """Submit tasks as few jobs as their resources allow."""
        budget = Budget()
        cluster = self._cluster(budget)
        try:
            return Submission(self.root, self.options, cluster, budget).run(requests)
        finally:
            queue.forget()

    def status(self, jobs: Mapping[str, str]) -> dict[str, JobState]:
        """What squeue (and, for jobs it forgot, sacct) says of these jobs."""
        budget = Budget()
        try:
            states = queue.job_states(jobs.values(), budget=budget)
        except SlurmError as e:
            raise _refusal("squeue", e) from None
        result: dict[str, JobState] = {}
        forgotten: list[str] = []
        for task_id, job_id in jobs.items():
            state = states.get(job_id)
            if state is None:
                forgotten.append(task_id)
            else:
                result[task_id] = job_state(job_id, state)
        if forgotten:
            accounting = queue.accounting_states([jobs[t] for t in forgotten], budget=budget)
            if accounting is None:
                return result  # sacct could not be asked now; conclude nothing yet
            for task_id in forgotten:
                job_id = jobs[task_id]
                known = accounting.get(job_id)
                result[task_id] = (
                    job_state(job_id, known)
                    if known is not None
                    else JobState.unknown(f"Slurm no longer knows job {job_id}")
                )
        return result

    def cancel(self, jobs: Mapping[str, str]) -> CancelReport:
        """One scancel for all the jobs; a task counts as stopped only if Slurm cancelled it."""
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
        report = CancelReport()
        for task_id, job_id in jobs.items():
            if job_id in refused:
                report.refused[task_id] = refused[job_id]
            else:
                report.stopped.add(task_id)
        return report

    def outer_log(self, task_id: str, job_id: str | None) -> str | None:
        """Slurm's output for the task's job.

        Before the job has started Slurm has written nothing, so the log says
        what squeue says about it (e.g. pending until its begin time).
        """
        record = jobfiles.read_record(self.root, task_id)
        if record is None:
            return None
        output = jobfiles.read_output(self.root, record)
        if output:
            return output
        if file_status(self.root, task_id).is_active:
            return self._queue_note(record.job_id) + "\n"
        return None

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

    def fresh_cluster_info(self) -> ClusterInfo:
        """Ask sinfo and scontrol now, not the saved answer (which may be ten minutes old)."""
        return cluster_info.cluster_info(
            self.root, default_partition=self.options.partition, budget=Budget(), fresh=True
        )

    def _cluster(self, budget: Budget) -> ClusterInfo:
        return cluster_info.cluster_info(
            self.root, default_partition=self.options.partition, budget=budget
        )


def _refusal(program: str, error: SlurmError) -> DriverError:
    """A Slurm command that failed for good, as an error a user can read."""
    return SchedulerUnavailableError(
        f"Slurm's {program} failed: {error.message}",
        "Check the cluster with 'sinfo' and 'squeue --me'; rerun with -v for details.",
    )


if TYPE_CHECKING:
    _checked: DriverFactory[SlurmOptions] = SlurmDriver
