"""The `windows-hpc` driver: tasks as jobs on the HPC Pack cluster, through its web portal.

One driver instance serves one command, and owns one portal client, so the
whole command logs in once however many tasks it handles. Submission writes
each task's script (see `batch`) and submits it, reporting the portal's job
id or its refusal per task; status asks the portal once per poll for all the
user's jobs and answers each job's state. Core writes every marker from
these answers (see `hipercow_core.jobs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
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
from hipercow_core.errors import DriverError, HipercowError
from hipercow_core.log import get_logger
from hipercow_core.root import Root
from hipercow_core.schema import ClusterInfo, TaskData
from hipercow_windows_hpc import DRIVER_NAME
from hipercow_windows_hpc.batch import ScriptSettings, write_job_script
from hipercow_windows_hpc.client import PortalClient
from hipercow_windows_hpc.cluster import python_module, static_cluster_info, with_load
from hipercow_windows_hpc.credentials import Credentials, load_credentials
from hipercow_windows_hpc.errors import (
    CredentialsError,
    PortalRefusedError,
    PortalUnavailableError,
)
from hipercow_windows_hpc.mounts import Mount, detect_mounts
from hipercow_windows_hpc.options import WindowsHpcOptions
from hipercow_windows_hpc.shares import Location, Share, locate, resolve_shares
from hipercow_windows_hpc.states import job_state
from hipercow_windows_hpc.submission import resource_fields, submit_fields

log = get_logger(__name__)

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
        cancel_timeout=options.cancel_timeout or None,
        retries=options.retries,
        retry_wait=options.retry_wait,
        share_session=share_session,
    )


#: The portal's dependency field waits for success only (a failed dependency leaves its
#: dependents queued), so it cannot hold a job until others end whatever their outcome.
AFTER_ANY_REFUSED = (
    "the portal cannot start a job after others whatever their outcome (--after-any)"
)
AFTER_ANY_HINT = "Submit the task once its --after-any tasks have ended: it then goes at once."


def job_name(data: TaskData) -> str:
    """The portal's job name: the task id (how a lost submission is found again), after its name."""
    return f"{data.name} ({data.id})" if data.name else data.id


class WindowsHpcDriver(Driver[WindowsHpcOptions]):
    """Runs tasks on the HPC Pack cluster's Windows or Linux nodes via the web portal."""

    name: ClassVar[str] = DRIVER_NAME
    options_type: ClassVar[type[msgspec.Struct]] = WindowsHpcOptions

    def __init__(
        self,
        root: Root,
        options: WindowsHpcOptions,
        *,
        credentials: Callable[[], Credentials] = load_credentials,
        mounts: Callable[[], list[Mount]] = detect_mounts,
    ) -> None:
        self.root = root
        self.options = options
        self._credentials = credentials
        self._mounts = mounts

    @property
    def max_poll_interval(self) -> float:  # type: ignore[override]
        """The longest pause between polls while waiting: each poll is a portal call."""
        return self.options.max_poll_interval

    def configure_warnings(self) -> list[str]:
        """No stored portal login shows at configure time, not at the first task."""
        try:
            self._credentials()
        except CredentialsError as e:
            return [f"{e.message}. {e.hint}" if e.hint else e.message]
        return []

    def build_queue(self) -> str | None:
        """The portal's queue for building environments."""
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

    def describe(self) -> dict[str, str]:
        """The shares jobs will use (configured and detected), and the project's place on them."""
        items = {
            f"share {share.drive}": f"{share.local} = {share.remote}"
            + (" (detected)" if share.detected else "")
            for share in self.shares
        }
        try:
            where = self.project_location()
            items["project on the share"] = where.unc().posix()
            if self.options.platform == "linux":
                items["project on the nodes"] = where.linux(self.options.linux_rules())
            else:
                items["project on the nodes"] = where.windows()
        except HipercowError as e:
            items["project on the nodes"] = f"unknown: {e.message}"
        return items

    def project_location(self) -> Location:
        """Where the project is on the shares; ShareError if it is on none."""
        return locate(self.root.project, self.shares)

    # -- submit ------------------------------------------------------------

    def submit(self, requests: Sequence[JobRequest]) -> SubmitReport:
        """Write each task's script and submit it; a portal that stops answering ends the batch."""
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
            kerberos_renew=self.options.kerberos_renew,
        )
        default_queue = info.default_queue or _DEFAULT_QUEUES[platform]
        now = datetime.now().astimezone()
        report = SubmitReport()
        for request in requests:
            if request.after_any_jobs:
                report.refused[request.task_id] = AFTER_ANY_REFUSED
                report.hint = report.hint or AFTER_ANY_HINT
                continue
            try:
                job_id = self._submit_one(request, settings, default_queue, now)
            except PortalRefusedError as e:
                report.refused[request.task_id] = e.message
                report.hint = report.hint or e.hint
                continue
            except DriverError as e:
                report.unreachable, report.hint = e.message, e.hint
                break
            report.accepted[request.task_id] = job_id
        log.debug("submitted tasks", submitted=len(report.accepted), asked=len(requests))
        return report

    def _submit_one(
        self, request: JobRequest, settings: ScriptSettings, default_queue: str, now: datetime
    ) -> str:
        data = request.data
        script = write_job_script(self.root, data.id, settings, self.options.platform)
        fields = submit_fields(
            head_node=self.options.head_node,
            command=script.command,
            workdir=script.workdir,
            resources=resource_fields(data.resources, default_queue, now, request.not_before),
            depends_on=list(request.after_jobs),
        )
        return self.client.submit(fields, job_name=job_name(data))

    # -- status ------------------------------------------------------------

    def status(self, jobs: Mapping[str, str]) -> dict[str, JobState]:
        """One listing of the user's jobs; a few jobs it lacks are asked about one by one."""
        listed = {row.id: row.state for row in self.client.list_jobs()}
        result: dict[str, JobState] = {}
        unlisted = 0
        for task_id, job_id in jobs.items():
            if job_id in listed:
                result[task_id] = job_state(job_id, listed[job_id])
            elif unlisted < _MAX_SINGLE_QUERIES:
                unlisted += 1
                state = self._unlisted_job_state(job_id)
                if state is not None:
                    result[task_id] = state
        return result

    def _unlisted_job_state(self, job_id: str) -> JobState | None:
        """A job missing from the listing, asked about alone: unknown only if the portal says so.

        A state the portal words in a way not known here (HPC Pack's passing
        states, say) means the job is still there.
        """
        try:
            return job_state(job_id, self.client.job_state(job_id))
        except PortalUnavailableError:
            return None

    # -- cancel, logs, cluster ---------------------------------------------

    def cancel(self, jobs: Mapping[str, str]) -> CancelReport:
        """Cancel with one portal call; a job counts as stopped when the portal says OK."""
        answers = self.client.cancel(jobs.values())
        report = CancelReport()
        for task_id, job_id in jobs.items():
            answer = answers.get(job_id, "no answer")
            if answer == "OK":
                report.stopped.add(task_id)
            else:
                report.refused[task_id] = f"the portal answered {answer} for job {job_id}"
        return report

    def outer_log(self, task_id: str, job_id: str | None) -> str | None:
        """The portal's log of the task's job: what the script printed, or why it never ran."""
        return self.client.job_log(job_id) if job_id else None

    def cluster_info(self) -> ClusterInfo:
        """The cluster's description (cached), with node load when the portal gives it."""
        info = static_cluster_info(self.root, self.options, self.client)
        try:
            return with_load(info, self.client.node_table())
        except DriverError as e:
            log.debug("node load unavailable", reason=e.message)
            return info


if TYPE_CHECKING:
    _checked: DriverFactory[WindowsHpcOptions] = WindowsHpcDriver
