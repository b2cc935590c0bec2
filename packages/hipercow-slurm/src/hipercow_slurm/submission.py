"""Submitting many tasks in few sbatch calls.

One submission resolves every task's hold_until against one clock reading
(so a batch agrees on "tonight"), maps resources to sbatch arguments,
groups identical arguments into job arrays no larger than MaxArraySize, and
runs one sbatch per array. A task is marked `submitted` only once sbatch has
accepted its job; everything else stays `created` for a later
`hipercow task submit`.

Dependencies (`depends_on`) become `--dependency=afterok:<jobs>` with
`--kill-on-invalid-dep=yes`, so a job whose dependency failed ends at once
instead of pending forever. Tasks that depend on others in the same
submission go in a later round, once the jobs they wait for have ids; a task
whose dependency already failed is finished as failed without a job.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hipercow_core.dependencies import DEPENDENCY_FAILED
from hipercow_core.errors import DriverError, HipercowError
from hipercow_core.fsutil import atomic_write
from hipercow_core.log import get_logger
from hipercow_core.root import Root
from hipercow_core.schema import (
    ClusterInfo,
    FinishedMarker,
    SubmittedMarker,
    TaskData,
    TaskStatus,
)
from hipercow_core.store import (
    ensure_task_dir,
    file_status,
    mark_finished,
    mark_submitted,
    read_markers,
    read_task_data,
)
from hipercow_slurm import commands
from hipercow_slurm.arrays import JobPlan, plan_jobs
from hipercow_slurm.cluster_info import max_array_size
from hipercow_slurm.commands import Budget, Output, SlurmError
from hipercow_slurm.jobfiles import (
    SINGLE_OUTPUT,
    JobRecord,
    jobs_dir,
    note,
    relative,
    write_record,
)
from hipercow_slurm.options import SlurmOptions
from hipercow_slurm.parsing import parse_submitted_job_id
from hipercow_slurm.sbatch_args import array_arg, task_args
from hipercow_slurm.script import render_script

log = get_logger(__name__)

DRIVER = "slurm"
SCRIPT = "job.sh"


class RefusedError(Exception):
    """A task that cannot be submitted as things stand; the message says why."""


class DependencyFailedError(Exception):
    """A task that can never run, because a task it depends on did not succeed."""


@dataclass
class SubmitReport:
    """Which tasks Slurm accepted (with their job ids) and which it did not, and why."""

    accepted: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    unreachable: DriverError | None = None

    def error(self, total: int) -> DriverError | None:
        """The one error to raise for everything that was not submitted, if anything."""
        if not self.refused:
            return None
        count = len(self.refused)
        which = (
            "the task was not submitted"
            if total == 1
            else f"{count} of {total} tasks were not submitted"
        )
        if self.unreachable is not None:
            return DriverError(f"{which}: {self.unreachable.message}", self.unreachable.hint)
        first = next(iter(self.refused.values()))
        return DriverError(
            f"{which}: {first}",
            "Check the task's resources and the driver's options ('hipercow driver show slurm').",
        )


class Submission:
    """One `submit` call of the driver."""

    def __init__(
        self, root: Root, options: SlurmOptions, cluster: ClusterInfo, budget: Budget
    ) -> None:
        self.root = root
        self.options = options
        self.cluster = cluster
        self.budget = budget
        self.now = datetime.now(UTC)
        self.report = SubmitReport()

    def run(self, task_ids: Sequence[str]) -> SubmitReport:
        data = {task_id: read_task_data(self.root, task_id) for task_id in task_ids}
        ensure_task_dir(self.root, task_ids)
        waiting = list(dict.fromkeys(task_ids))
        while waiting:
            ready, later = self._ready(waiting, data)
            if not ready:
                for task_id in later:
                    self.report.refused[task_id] = "its dependencies form a cycle"
                break
            self._submit_round(ready, data)
            waiting = later
        return self.report

    def _ready(self, waiting: list[str], data: dict[str, TaskData]) -> tuple[list[str], list[str]]:
        """Tasks whose dependencies in this submission already have jobs, and the rest."""
        ready: list[str] = []
        later: list[str] = []
        for task_id in waiting:
            here = [d for d in data[task_id].depends_on if d in data]
            refused = next((d for d in here if d in self.report.refused), None)
            failed = next((d for d in here if d in self.report.failed), None)
            if refused is not None:
                self.report.refused[task_id] = (
                    f"it depends on task {refused}, which was not submitted"
                )
            elif failed is not None:
                self._fail_dependent(task_id, f"task {failed}, a dependency, failed")
            elif all(d in self.report.accepted for d in here):
                ready.append(task_id)
            else:
                later.append(task_id)
        return ready, later

    def _submit_round(self, task_ids: list[str], data: dict[str, TaskData]) -> None:
        pairs: list[tuple[str, list[str]]] = []
        for task_id in task_ids:
            try:
                pairs.append((task_id, self._args(data[task_id])))
            except DependencyFailedError as e:
                self._fail_dependent(task_id, str(e))
            except (RefusedError, HipercowError) as e:
                self.report.refused[task_id] = str(e)
        for plan in plan_jobs(pairs, max_array_size(self.cluster)):
            if self.report.unreachable is not None:
                self._refuse(plan, self.report.unreachable.message)
                continue
            try:
                job_id, batch = self._sbatch(plan)
            except DriverError as e:
                self.report.unreachable = e
                self._refuse(plan, e.message)
            except SlurmError as e:
                log.info("sbatch refused a job", tasks=len(plan.task_ids), error=e.message)
                self._refuse(plan, f"sbatch refused the job: {e.message}")
            else:
                self._accept(plan, job_id, batch)

    def _args(self, data: TaskData) -> list[str]:
        return task_args(
            data.resources,
            cluster=self.cluster,
            options=self.options,
            now=self.now,
            dependencies=self._dependency_jobs(data),
        )

    def _dependency_jobs(self, data: TaskData) -> list[str]:
        """Job ids to wait for; finished successful dependencies need no waiting.

        A dependency that failed (or vanished) means the task can never run;
        one not yet submitted has no job to wait for, so the task waits too.
        """
        jobs: list[str] = []
        for dep in data.depends_on:
            if dep in self.report.accepted:
                jobs.append(self.report.accepted[dep])
                continue
            status = file_status(self.root, dep)
            if status == TaskStatus.SUCCESS:
                continue
            if status.is_terminal or status == TaskStatus.MISSING:
                raise DependencyFailedError(f"task {dep}, a dependency, is {status}")
            if status == TaskStatus.CREATED:
                raise RefusedError(f"it depends on task {dep}, which has not been submitted")
            marker = read_markers(self.root, dep).submitted
            if marker is None or marker.driver != DRIVER or not marker.job_id:
                raise RefusedError(f"it depends on task {dep}, which is not a Slurm job")
            jobs.append(marker.job_id)
        return jobs

    def _sbatch(self, plan: JobPlan) -> tuple[str, Path]:
        """Write the script and submit it: the job id and batch directory, or an error.

        The job name is unique, so that when sbatch's answer is lost (a
        timeout after the controller accepted the job) a retry finds the job
        by name instead of submitting it twice.
        """
        name = f"hipercow-{plan.task_ids[0][:8]}-{secrets.token_hex(2)}"
        batch = jobs_dir(self.root) / name
        batch.mkdir(parents=True, exist_ok=True)
        script = batch / SCRIPT
        args = [
            "--parsable",
            f"--job-name={name}",
            f"--output={self._output(plan, batch, '%a')}",
            "--open-mode=append",
            f"--chdir={self.root.project}",
        ]
        if plan.is_array:
            args.append(array_arg(len(plan.task_ids), self.options.array_limit))
        args.extend(plan.args)
        args.extend(self.options.extra_args)
        text = render_script(
            task_ids=plan.task_ids,
            project=self.root.project,
            runner=self.options.runner_command,
            setup=self.options.setup_lines,
            sbatch_args=args,
            written=self.now,
        )
        atomic_write(script, text.encode())
        output = commands.run_retrying(
            "sbatch", [*args, str(script)], budget=self.budget, recover=lambda: _find_job(name)
        )
        try:
            return parse_submitted_job_id(output.stdout), batch
        except ValueError as e:
            raise SlurmError("sbatch", str(e), transient=False) from None

    def _output(self, plan: JobPlan, batch: Path, index: str) -> Path:
        """Where Slurm writes a task's output: its task directory, or the array's directory."""
        if plan.is_array:
            return batch / f"{index}.out"
        return self.root.task_dir(plan.task_ids[0]) / SINGLE_OUTPUT

    def _accept(self, plan: JobPlan, job_id: str, batch: Path) -> None:
        """Record each task's job and output file, then mark it submitted."""
        accepted = datetime.now(UTC)
        script = relative(self.root, batch / SCRIPT)
        for index, task_id in enumerate(plan.task_ids):
            task_job = f"{job_id}_{index}" if plan.is_array else job_id
            output = relative(self.root, self._output(plan, batch, str(index)))
            write_record(self.root, task_id, JobRecord(task_job, output, script, accepted))
            mark_submitted(self.root, task_id, SubmittedMarker(accepted, DRIVER, job_id=task_job))
            self.report.accepted[task_id] = task_job
        log.debug("submitted", job=job_id, tasks=len(plan.task_ids))

    def _fail_dependent(self, task_id: str, detail: str) -> None:
        """Finish a task whose dependency failed, as every driver does, without a job."""
        marker = FinishedMarker(TaskStatus.FAILURE, datetime.now(UTC), reason=DEPENDENCY_FAILED)
        if mark_finished(self.root, task_id, marker):
            note(self.root, task_id, f"not submitted: {detail}")
        self.report.failed.append(task_id)

    def _refuse(self, plan: JobPlan, reason: str) -> None:
        for task_id in plan.task_ids:
            self.report.refused[task_id] = reason


def _find_job(name: str) -> Output | None:
    """The job an earlier, timed-out sbatch may have created after all, found by its name."""
    found = commands.run("squeue", ["--noheader", f"--name={name}", "--format=%F"], timeout=10)
    ids = [line.strip() for line in found.stdout.splitlines() if line.strip().isdigit()]
    return Output(ids[0] + "\n", "") if ids else None
