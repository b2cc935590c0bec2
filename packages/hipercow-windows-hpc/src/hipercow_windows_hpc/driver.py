"""The `windows-hpc` driver: tasks as jobs on the HPC Pack cluster, through its web portal.

One driver instance serves one command, and owns one portal client, so the
whole command logs in once however many tasks it handles. Submission writes
each task's script (see `batch`) and submits it; only tasks the portal
accepted get their `submitted` marker. Status asks the portal once per poll
for all the user's jobs and writes a terminal marker (with the reason) for
tasks whose job ended without the task recording an outcome, so a task whose
job died never stays `running`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import ClassVar, Literal

import msgspec

from hipercow_core.errors import DriverError
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
from hipercow_windows_hpc import DRIVER_NAME
from hipercow_windows_hpc.batch import ScriptSettings, write_job_script
from hipercow_windows_hpc.client import PortalClient
from hipercow_windows_hpc.cluster import python_module, static_cluster_info, with_load
from hipercow_windows_hpc.credentials import Credentials, load_credentials
from hipercow_windows_hpc.errors import PortalRefusedError, PortalUnavailableError
from hipercow_windows_hpc.mounts import Mount, detect_mounts
from hipercow_windows_hpc.options import WindowsHpcOptions
from hipercow_windows_hpc.shares import Location, Share, locate, resolve_shares
from hipercow_windows_hpc.submission import resource_fields, submit_fields
from hipercow_windows_hpc.wire import JobState, normalise_state

log = get_logger(__name__)

Gone = Literal["Gone"]

#: How a job that ended is recorded when its task wrote no outcome: status and reason.
_ENDINGS: dict[str, tuple[TaskStatus, str]] = {
    "Failed": (
        TaskStatus.FAILURE,
        "the portal reports job {job} Failed; see 'hipercow task log --outer'",
    ),
    "Canceled": (TaskStatus.CANCELLED, "the portal reports job {job} Canceled"),
    "Finished": (
        TaskStatus.FAILURE,
        "job {job} finished without the task recording an outcome",
    ),
    "Gone": (TaskStatus.FAILURE, "job {job} is no longer known to the portal"),
}
#: At most this many jobs missing from the listing are asked about one by one per poll.
_MAX_SINGLE_QUERIES = 20
_DEFAULT_QUEUES = {"windows": "AllNodes", "linux": "LinuxNodes"}


def make_client(
    options: WindowsHpcOptions,
    credentials: Callable[[], Credentials] = load_credentials,
    *,
    share_session: bool = True,
) -> PortalClient:
    """A portal client configured by the driver's options."""
    return PortalClient(
        options.portal_url,
        options.head_node,
        credentials,
        timeout=options.timeout,
        retries=options.retries,
        retry_wait=options.retry_wait,
        share_session=share_session,
    )


class WindowsHpcDriver:
    """Runs tasks on the HPC Pack cluster's Windows or Linux nodes via the web portal."""

    name: ClassVar[str] = DRIVER_NAME
    options_type: ClassVar[type[msgspec.Struct]] = WindowsHpcOptions

    def __init__(
        self,
        root: Root,
        options: msgspec.Struct,
        *,
        credentials: Callable[[], Credentials] = load_credentials,
        mounts: Callable[[], list[Mount]] = detect_mounts,
    ) -> None:
        assert isinstance(options, WindowsHpcOptions)
        self.root = root
        self.options = options
        self._credentials = credentials
        self._mounts = mounts

    @property
    def max_poll_interval(self) -> float:
        """The longest pause between polls while waiting: each poll is a portal call."""
        return self.options.max_poll_interval

    @property
    def build_queue(self) -> str | None:
        """The portal's queue for building environments (hipercow-provision reads it)."""
        info = static_cluster_info(self.root, self.options, self.client)
        return info.extra.get("build_queue")

    @cached_property
    def client(self) -> PortalClient:
        return make_client(self.options, self._credentials)

    @cached_property
    def shares(self) -> list[Share]:
        """The configured shares plus, unless turned off, those mounted on this machine."""
        detected = self._mounts() if self.options.detect_shares else []
        return resolve_shares(self.options.explicit_shares(), detected)

    def project_location(self) -> Location:
        """Where the project is on the shares; ShareError if it is on none."""
        return locate(self.root.project, self.shares)

    # -- submit ------------------------------------------------------------

    def submit(self, task_ids: Sequence[str]) -> None:
        if not task_ids:
            return
        ensure_task_dir(self.root, task_ids)
        project = self.project_location()
        platform = self.options.platform
        if platform == "linux":
            project.linux(self.options.linux_rules())  # fail before any portal call
        info = static_cluster_info(self.root, self.options, self.client)
        settings = ScriptSettings(
            project=project,
            shares=self.shares,
            runner=self.options.runner(),
            python_version=self.options.python_version,
            python_module=python_module(info, platform, self.options.python_version),
            linux_rules=self.options.linux_rules(),
        )
        default_queue = info.default_queue or _DEFAULT_QUEUES[platform]
        now = datetime.now().astimezone()
        problems: list[DriverError] = []
        sent = 0
        for task_id in task_ids:
            data = read_task_data(self.root, task_id)
            try:
                job_id = self._submit_one(data, settings, default_queue, now)
            except PortalRefusedError as e:
                problems.append(e)
                continue
            except DriverError as e:
                problems.append(e)
                break
            mark_submitted(
                self.root, task_id, SubmittedMarker(datetime.now(UTC), self.name, job_id=job_id)
            )
            sent += 1
        log.debug("submitted tasks", submitted=sent, asked=len(task_ids))
        if problems:
            first = problems[0]
            left = len(task_ids) - sent
            what = "the task was" if len(task_ids) == 1 else f"{left} of {len(task_ids)} tasks were"
            raise type(first)(f"{first.message} ({what} not submitted)", first.hint)

    def _submit_one(
        self, data: TaskData, settings: ScriptSettings, default_queue: str, now: datetime
    ) -> str:
        script = write_job_script(self.root, data.id, settings, self.options.platform)
        fields = submit_fields(
            head_node=self.options.head_node,
            command=script.command,
            workdir=script.workdir,
            resources=resource_fields(data.resources, default_queue, now),
            depends_on=self._dependency_jobs(data),
        )
        return self.client.submit(fields, job_name=data.id)

    def _dependency_jobs(self, data: TaskData) -> list[str]:
        """The portal job ids of the tasks this one depends on, where they have been submitted."""
        jobs = []
        for task_id in data.depends_on:
            marker = read_markers(self.root, task_id).submitted
            if marker is not None and marker.driver == self.name and marker.job_id:
                jobs.append(marker.job_id)
        return jobs

    # -- status ------------------------------------------------------------

    def _job_ids(self, task_ids: Sequence[str]) -> dict[str, str]:
        found = {}
        for task_id in task_ids:
            marker = read_markers(self.root, task_id).submitted
            if marker is not None and marker.job_id:
                found[task_id] = marker.job_id
        return found

    def status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """File status of each task, corrected by one listing of the user's jobs."""
        result = {task_id: file_status(self.root, task_id) for task_id in task_ids}
        active = self._job_ids([t for t, s in result.items() if s.is_active])
        if not active:
            return result
        try:
            listed = {row.id: normalise_state(row.state) for row in self.client.list_jobs()}
        except PortalUnavailableError as e:
            log.warning("cannot check tasks with the portal", reason=e.message)
            return result
        states: dict[str, JobState | Gone | None] = {}
        unlisted = 0
        for task_id, job_id in active.items():
            if job_id in listed:
                states[task_id] = listed[job_id]
            elif unlisted < _MAX_SINGLE_QUERIES:
                unlisted += 1
                states[task_id] = self._unlisted_job_state(job_id)
        for task_id, job_id in active.items():
            result[task_id] = self._reconcile(task_id, job_id, states.get(task_id))
        return result

    def _unlisted_job_state(self, job_id: str) -> JobState | Gone | None:
        try:
            state = self.client.job_state(job_id)
        except PortalUnavailableError:
            return None
        return "Gone" if state is None else state

    def _reconcile(self, task_id: str, job_id: str, state: JobState | Gone | None) -> TaskStatus:
        """Record the outcome of a job that ended without its task saying how.

        The files are read again first: a runner that has just finished wins,
        and `mark_finished` writes only if no terminal marker exists, so a
        race with the runner can never overwrite its outcome.
        """
        current = file_status(self.root, task_id)
        ending = _ENDINGS.get(state) if state is not None else None
        if ending is None or current.is_terminal:
            return current
        status, reason = ending
        marker = FinishedMarker(status, datetime.now(UTC), reason=reason.format(job=job_id))
        if mark_finished(self.root, task_id, marker):
            log.debug("recorded job outcome", task=task_id, job_id=job_id, state=state)
        return file_status(self.root, task_id)

    # -- cancel, logs, cluster ---------------------------------------------

    def cancel(self, task_ids: Sequence[str]) -> dict[str, bool]:
        """Cancel tasks: unsubmitted ones here, submitted ones with one portal call."""
        result: dict[str, bool] = {}
        pending = [t for t in task_ids if not file_status(self.root, t).is_terminal]
        result.update({t: False for t in task_ids if t not in pending})
        jobs = self._job_ids(pending)
        for task_id in pending:
            if task_id not in jobs:
                result[task_id] = self._mark_cancelled(task_id, "cancelled before submission")
        if not jobs:
            return result
        answers = self.client.cancel(jobs.values())
        for task_id, job_id in jobs.items():
            answer = answers.get(job_id, "no answer")
            if answer == "OK":
                result[task_id] = self._mark_cancelled(task_id, f"job {job_id} cancelled by user")
            else:
                log.debug("portal did not cancel job", job_id=job_id, answer=answer)
                result[task_id] = False
        return result

    def _mark_cancelled(self, task_id: str, reason: str) -> bool:
        marker = FinishedMarker(TaskStatus.CANCELLED, datetime.now(UTC), reason=reason)
        return mark_finished(self.root, task_id, marker)

    def outer_log(self, task_id: str) -> str | None:
        """The portal's log of the task's job: what the script printed, or why it never ran."""
        job_id = self._job_ids([task_id]).get(task_id)
        return self.client.job_log(job_id) if job_id else None

    def cluster_info(self) -> ClusterInfo:
        """The cluster's description (cached), with node load when the portal gives it."""
        info = static_cluster_info(self.root, self.options, self.client)
        try:
            return with_load(info, self.client.node_table())
        except DriverError as e:
            log.debug("node load unavailable", reason=e.message)
            return info
