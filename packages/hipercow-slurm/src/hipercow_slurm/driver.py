"""The `slurm` driver: hipercow tasks as Slurm jobs and job arrays.

Every method takes many tasks and makes one call to Slurm for all of them
(one sbatch per array, one squeue per poll, one scancel), because clusters
punish one request per job. It answers what Slurm said (job ids, refusals,
job states, cancellations); core writes every marker from these answers
(see `hipercow_core.jobs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
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
from hipercow_slurm.parsing import JobState as SlurmState
from hipercow_slurm.parsing import parse_scancel_errors
from hipercow_slurm.states import is_active, is_requeued, job_state
from hipercow_slurm.submission import DRIVER, Submission

log = get_logger(__name__)

#: Seconds a job may be missing from both squeue and sacct before it is unknown, at
#: least (else the cluster's MinJobAge): slurmctld hands finished jobs to slurmdbd in
#: the background, seconds or more later when slurmdbd was away.
MIN_GRACE = 60


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
            saved = "cached_at" in cluster.extra  # may be ten minutes old
            refresh = self.fresh_cluster_info if saved else None
            return Submission(self.root, self.options, cluster, budget, refresh).run(requests)
        finally:
            queue.forget(self.root.cache_dir())

    def forget(self, jobs: Mapping[str, str]) -> None:
        """Purged tasks: their batch directories and array records, once no task needs them."""
        jobfiles.forget(self.root, jobs)

    def status(self, jobs: Mapping[str, str]) -> dict[str, JobState]:
        """What squeue (and, for jobs it forgot, sacct) says of these jobs.

        A job that ended is judged with its output (memory kills, failed setup
        lines, exact exit codes). A job in neither squeue nor sacct is unknown
        only once it has been missing for the cluster's MinJobAge when there
        is accounting, since sacct may lag behind the controller that long.
        """
        budget = Budget()
        cache = self.root.cache_dir()
        try:
            states = queue.job_states(jobs.values(), budget=budget, cache=cache)
        except SlurmError as e:
            raise _refusal("squeue", e) from None
        result: dict[str, JobState] = {}
        forgotten: list[str] = []
        for task_id, job_id in jobs.items():
            state = states.get(job_id)
            if state is None:
                forgotten.append(task_id)
            else:
                result[task_id] = self._judge(task_id, job_id, state)
        if forgotten:
            names = {jobs[t]: n for t in forgotten if (n := self._job_name(t, jobs[t])) is not None}
            accounting = queue.accounting_states(
                [jobs[t] for t in forgotten], budget=budget, names=names
            )
            if accounting is None:
                return result  # sacct could not be asked now; conclude nothing yet
            for task_id in forgotten:
                job_id = jobs[task_id]
                known = accounting.get(job_id)
                if known is not None:
                    jobfiles.clear_missing(self.root, task_id)
                    result[task_id] = self._judge(task_id, job_id, known)
                else:
                    result[task_id] = self._missing(task_id, job_id, budget)
        return result

    def _judge(self, task_id: str, job_id: str, state: SlurmState) -> JobState:
        """The contract's state of one job, reading its output only once it has ended."""
        if is_active(state.state):
            return job_state(job_id, state)
        record = jobfiles.read_record(self.root, task_id, job_id)
        output = jobfiles.read_output(self.root, record) if record is not None else None
        return job_state(job_id, state, output)

    def _job_name(self, task_id: str, job_id: str) -> str | None:
        record = jobfiles.read_record(self.root, task_id, job_id)
        return record.job_name if record is not None else None

    def _missing(self, task_id: str, job_id: str, budget: Budget) -> JobState:
        """A job in neither squeue nor sacct: unknown, after a grace period with accounting."""
        gone = f"Slurm no longer knows job {job_id}"
        if not queue.has_accounting():
            return JobState.unknown(gone)
        now = datetime.now(UTC)
        since = jobfiles.mark_missing(self.root, task_id, now)
        grace = max(MIN_GRACE, cluster_info.min_job_age(self._cluster(budget)))
        if (now - since).total_seconds() < grace:
            return JobState.active(f"{gone} yet; waiting up to {grace} s for accounting")
        return JobState.unknown(f"{gone}, in the queue or in accounting")

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
            queue.forget(self.root.cache_dir())
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
        what squeue says about it (e.g. pending until its begin time); a job
        Slurm requeued says so, since its output is the earlier run's.
        """
        record = jobfiles.read_record(self.root, task_id, job_id)
        if record is None:
            return None
        output = jobfiles.read_output(self.root, record)
        if not file_status(self.root, task_id).is_active:
            return output or None
        if not output:
            return self._queue_note(record.job_id) + "\n"
        requeued = self._requeue_note(record.job_id)
        return output + (f"{requeued}\n" if requeued else "")

    def _requeue_note(self, job_id: str) -> str | None:
        try:
            state = queue.job_states(
                [job_id], budget=Budget(commands.DEFAULT_BUDGET / 2), cache=self.root.cache_dir()
            ).get(job_id)
        except (DriverError, SlurmError):
            return None
        if state is None or not is_requeued(state):
            return None
        reason = f", reason: {state.reason}" if state.reason else ""
        return (
            f"hipercow: Slurm requeued job {job_id} (restart {state.restarts}); "
            f"it waits to run again{reason}"
        )

    def _queue_note(self, job_id: str) -> str:
        try:
            state = queue.job_states(
                [job_id], budget=Budget(commands.DEFAULT_BUDGET / 2), cache=self.root.cache_dir()
            ).get(job_id)
        except (DriverError, SlurmError) as e:  # the log is worth showing without the queue
            return f"hipercow: Slurm job {job_id} has written no output yet ({e})"
        if state is None:
            return f"hipercow: Slurm job {job_id} has written no output and is not in the queue"
        reason = f", reason: {state.reason}" if state.reason else ""
        return f"hipercow: Slurm job {job_id} has written no output yet: {state.state}{reason}"

    def cluster_info(self) -> ClusterInfo:
        return self._cluster(Budget())

    def configure_warnings(self) -> list[str]:
        """Partitions the cluster does not have, found by asking it once, briefly.

        `driver configure slurm` runs on the login node, where Slurm answers;
        the answer is saved, so the first `task create` after it needs no
        scheduler call but its sbatch. A cluster that does not answer within
        the short budget is not judged here (the first create will say so).
        """
        try:
            info = self._cluster(Budget(cluster_info.QUICK_TIMEOUT))
        except DriverError:
            return []
        known = [q.name for q in info.queues]
        wanted = {
            "partition": self.options.partition,
            "build_partition": self.options.build_partition,
        }
        return [
            f"{option}={name}: the cluster has no partition '{name}' (it has {', '.join(known)}); "
            f"fix it with 'hipercow driver configure slurm {option}=NAME'"
            for option, name in wanted.items()
            if name is not None and info.queue(name) is None
        ]

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
