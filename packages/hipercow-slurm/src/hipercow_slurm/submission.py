"""Submitting many tasks in few sbatch calls.

Core hands the driver a batch of job requests whose hold times are resolved
and whose dependencies on earlier jobs are job ids already; this module maps
resources to sbatch arguments, groups identical arguments into job arrays no
larger than MaxArraySize, runs one sbatch per array, and reports the job id
of each accepted task and why each other one was refused.

Dependencies become `--dependency=afterok:<jobs>` with
`--kill-on-invalid-dep=yes`, so a job whose dependency failed ends at once
instead of pending forever.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from hipercow_core.drivers.protocol import JobRequest, SubmitReport
from hipercow_core.errors import DriverError, HipercowError
from hipercow_core.fsutil import atomic_write
from hipercow_core.log import get_logger
from hipercow_core.root import Root
from hipercow_core.schema import ClusterInfo
from hipercow_slurm import commands, limits
from hipercow_slurm.arrays import JobPlan, plan_jobs, split_evenly
from hipercow_slurm.cluster_info import max_array_size
from hipercow_slurm.commands import Budget, Output, SlurmError
from hipercow_slurm.jobfiles import (
    SCRIPT,
    SINGLE_OUTPUT,
    ArrayRecord,
    JobRecord,
    jobs_dir,
    relative,
    write_array_record,
    write_record,
)
from hipercow_slurm.options import SlurmOptions
from hipercow_slurm.parsing import parse_submitted_job_id
from hipercow_slurm.sbatch_args import (
    EXPORT_ALL,
    array_arg,
    filename_pattern,
    submit_environment,
    task_args,
)
from hipercow_slurm.script import render_script

log = get_logger(__name__)

DRIVER = "slurm"
#: Characters kept out of job names (they are also batch directory names).
_JOB_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
HINT = "Check the tasks' resources and the driver's options ('hipercow driver show slurm')."
#: What sbatch says of an array wider than MaxArraySize allows (lower-cased).
_INVALID_ARRAY = "invalid job array specification"
QUEUE_FULL_HINT = (
    "The cluster holds as many jobs as it may (MaxJobCount); submit the rest once some "
    "have finished."
)
LIMIT_HINT = (
    "Your jobs in the queue count towards the limit ('squeue --me'); submit the rest once "
    "some have finished."
)


class Submission:
    """One `submit` call of the driver."""

    def __init__(
        self,
        root: Root,
        options: SlurmOptions,
        cluster: ClusterInfo,
        budget: Budget,
        refresh: Callable[[], ClusterInfo] | None = None,
    ) -> None:
        self.root = root
        self.options = options
        self.cluster = cluster
        self.budget = budget
        self.now = datetime.now(UTC)
        self.report = SubmitReport(hint=HINT)
        #: Why the rest of the submission is not tried (a full queue), once that is known.
        self.stopped: str | None = None
        #: How many more jobs a submit limit lets in, once one was met.
        self.room: int | None = None
        self.limit_reason = "the cluster's limit on submitted jobs was reached"
        self._made_args: dict[tuple[object, ...], list[str]] = {}
        #: Asks the cluster afresh, when its facts came from the saved answer (used once).
        self.refresh = refresh

    def run(self, requests: Sequence[JobRequest]) -> SubmitReport:
        pairs: list[tuple[str, list[str]]] = []
        self.names = {r.task_id: r.data.name for r in requests}
        for request in requests:
            try:
                pairs.append((request.task_id, self._args(request)))
            except HipercowError as e:
                self.report.refused[request.task_id] = str(e)
        for plan in plan_jobs(pairs, max_array_size(self.cluster)):
            # After a refresh of the cluster's facts, arrays planned wider are split anew.
            for piece in split_evenly(plan.task_ids, max_array_size(self.cluster)):
                self._send(JobPlan(plan.args, tuple(piece)))
        return self.report

    def _send(self, plan: JobPlan) -> None:
        if self.report.unreachable is not None:  # core says so of every task left
            return
        if self.stopped is not None:
            self._refuse(plan.task_ids, self.stopped)
            return
        fitted = self._fit(plan)
        if fitted is not None:
            self._submit(fitted)

    def _submit(self, plan: JobPlan) -> None:
        """One sbatch for a plan; what Slurm said decides what happens to the rest."""
        try:
            job_id, batch = self._sbatch(plan)
        except DriverError as e:
            self.report.unreachable = e.message
            self.report.hint = e.hint
        except SlurmError as e:
            log.info("sbatch refused a job", tasks=len(plan.task_ids), error=e.message)
            if e.submit_limit:
                self._over_limit(plan, e)
            elif self._too_wide(plan, e):
                self._refresh_and_split(plan)
            elif e.queue_full:
                self.stopped = f"the cluster's queue is full ({_last_line(e.message)})"
                self.report.hint = QUEUE_FULL_HINT
                self._refuse(plan.task_ids, self.stopped)
            else:
                self._refuse(plan.task_ids, f"sbatch refused the job: {e.message}")
        else:
            self._accept(plan, job_id, batch)
            if self.room is not None:
                self.room -= len(plan.task_ids)

    def _too_wide(self, plan: JobPlan, error: SlurmError) -> bool:
        """sbatch refused an array as too wide: the saved MaxArraySize may be out of date."""
        return (
            plan.is_array and self.refresh is not None and _INVALID_ARRAY in error.message.lower()
        )

    def _refresh_and_split(self, plan: JobPlan) -> None:
        """Ask the cluster afresh (once per submission) and send the array in narrower parts."""
        assert self.refresh is not None
        before = max_array_size(self.cluster)
        self.cluster = self.refresh()
        self.refresh = None
        largest = max_array_size(self.cluster)
        log.info("MaxArraySize was out of date", saved=before, now=largest)
        if largest >= len(plan.task_ids):  # not its width after all: sbatch's reason stands
            self._refuse(plan.task_ids, "sbatch refused the job: Invalid job array specification")
            return
        for piece in split_evenly(plan.task_ids, largest):
            self._send(JobPlan(plan.args, tuple(piece)))

    def _fit(self, plan: JobPlan) -> JobPlan | None:
        """The part of a plan that fits under a submit limit met earlier; the rest refused."""
        if self.room is None or len(plan.task_ids) <= self.room:
            return plan
        fits, rest = plan.task_ids[: self.room], plan.task_ids[self.room :]
        self._refuse(rest, self.limit_reason)
        return JobPlan(plan.args, fits) if fits else None

    def _over_limit(self, plan: JobPlan, error: SlurmError) -> None:
        """sbatch refused a whole array at a submit limit: send the part that fits, if any.

        The room left is read from the limits and the jobs queued now, so the
        rest of this submission is cut to fit as well, without asking sbatch
        to refuse each array in turn. That count can be wrong (an account's
        GrpSubmitJobs counts other users' jobs, which `squeue --me` does not
        see), so when the room read is not smaller than what was just refused,
        half of it is tried instead. Each retry is smaller than the array
        before it, so this ends after at most log2(size) sbatch calls.
        """
        self.report.hint = LIMIT_HINT
        said = _last_line(error.message)
        limit = limits.submit_limit(self.options.qos)
        queued = limits.queued_jobs() if limit is not None else None
        if limit is None or queued is None:
            self.limit_reason = f"the cluster's limit on submitted jobs was reached ({said})"
            room = len(plan.task_ids) // 2
        else:
            self.limit_reason = (
                f"the cluster's limit on submitted jobs was reached ({said}): "
                f"at most {limit} may be queued and {queued} are"
            )
            room = max(0, limit - queued)
            if room >= len(plan.task_ids):
                room = len(plan.task_ids) // 2
        self.room = room
        fitted = self._fit(plan)
        if fitted is None:
            self.stopped = self.limit_reason
            return
        self._submit(fitted)

    def _refuse(self, task_ids: Sequence[str], reason: str) -> None:
        for task_id in task_ids:
            self.report.refused[task_id] = reason

    def _args(self, request: JobRequest) -> list[str]:
        """The task's sbatch arguments; a bundle's tasks mostly share theirs, made once."""
        key = (
            request.data.resources,
            request.not_before,
            tuple(request.after_jobs),
            tuple(request.after_any_jobs),
        )
        made = self._made_args.get(key)
        if made is None:
            made = self._made_args[key] = task_args(
                request.data.resources,
                cluster=self.cluster,
                options=self.options,
                begin=request.not_before,
                dependencies=request.after_jobs,
                after_any=request.after_any_jobs,
            )
        return list(made)

    def _label(self, plan: JobPlan) -> str:
        names = {self.names.get(t) for t in plan.task_ids}
        given = names.pop() if len(names) == 1 else None
        if given:
            return _JOB_NAME_UNSAFE.sub("_", given)[:60]
        return f"hipercow-{plan.task_ids[0][:8]}"

    def _sbatch(self, plan: JobPlan) -> tuple[str, Path]:
        """Write the script and submit it: the job id and batch directory, or an error.

        The job name is unique, so that when sbatch's answer is lost (a
        timeout after the controller accepted the job) a retry finds the job
        by name instead of submitting it twice. It starts with the tasks'
        `--name` when they share one, so `squeue` shows it.
        """
        name = f"{self._label(plan)}-{secrets.token_hex(2)}"
        batch = jobs_dir(self.root) / name
        batch.mkdir(parents=True, exist_ok=True)
        script = batch / SCRIPT
        args = [
            "--parsable",
            f"--job-name={name}",
            f"--output={self._output_pattern(plan, batch)}",
            "--open-mode=append",
            f"--chdir={self._on_node(self.root.project)}",
            EXPORT_ALL,
        ]
        if plan.is_array:
            args.append(array_arg(len(plan.task_ids), self.options.array_limit))
        args.extend(plan.args)
        args.extend(self.options.extra_args)
        text = render_script(
            task_ids=plan.task_ids,
            project=self._on_node(self.root.project),
            runner=self.options.runner_command,
            setup=self.options.setup_lines,
            sbatch_args=args,
            written=self.now,
            login_shell=self.options.login_shell,
        )
        atomic_write(script, text.encode())
        output = commands.run_retrying(
            "sbatch",
            [*args, str(script)],
            budget=Budget(self.budget.seconds),  # each sbatch its own, not what is left
            recover=lambda: _find_job(name),
            attempt_timeout=self.options.submit_timeout,
            env=submit_environment(os.environ),
        )
        try:
            return parse_submitted_job_id(output.stdout), batch
        except ValueError as e:
            raise SlurmError("sbatch", str(e), transient=False) from None

    def _on_node(self, path: Path) -> Path:
        """A path of the project as the nodes see it (`node_project`), else as here."""
        if self.options.node_project is None:
            return path
        return Path(self.options.node_project) / path.relative_to(self.root.project)

    def _output_pattern(self, plan: JobPlan, batch: Path) -> str:
        """--output: the output file on the node, `%` in its directory kept literal."""
        if plan.is_array:
            return filename_pattern(str(self._on_node(batch)), "%a.out")
        directory = self._on_node(self.root.task_dir(plan.task_ids[0]))
        return filename_pattern(str(directory), SINGLE_OUTPUT)

    def _output(self, plan: JobPlan, batch: Path, index: str) -> Path:
        """Where Slurm writes a task's output: its task directory, or the array's directory."""
        if plan.is_array:
            return batch / f"{index}.out"
        return self.root.task_dir(plan.task_ids[0]) / SINGLE_OUTPUT

    def _accept(self, plan: JobPlan, job_id: str, batch: Path) -> None:
        """Record each task's job and output file, and report its job id."""
        accepted = datetime.now(UTC)
        if plan.is_array:
            write_array_record(self.root, ArrayRecord(job_id, batch.name, plan.task_ids, accepted))
            for index, task_id in enumerate(plan.task_ids):
                self.report.accepted[task_id] = f"{job_id}_{index}"
        else:
            (task_id,) = plan.task_ids
            output = relative(self.root, self._output(plan, batch, "0"))
            script = relative(self.root, batch / SCRIPT)
            write_record(self.root, task_id, JobRecord(job_id, output, script, accepted))
            self.report.accepted[task_id] = job_id
        log.debug("submitted", job=job_id, tasks=len(plan.task_ids))


def _last_line(message: str) -> str:
    """Slurm's own words, from the last line of what it said (its summary of the error)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1].removeprefix("sbatch: error: ") if lines else "no message"


def _find_job(name: str) -> Output | None:
    """The job an earlier, timed-out sbatch may have created after all, found by its name."""
    found = commands.run("squeue", ["--noheader", f"--name={name}", "--format=%F"], timeout=10)
    ids = [line.strip() for line in found.stdout.splitlines() if line.strip().isdigit()]
    return Output(ids[0] + "\n", "") if ids else None
