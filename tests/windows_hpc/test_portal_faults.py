"""A slow, failing or garbled portal: retried, then reported clearly, tasks left `created`."""

from __future__ import annotations

import json

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import Configure, PortalCli, calls

from hipercow_core.errors import DriverError, SchedulerUnavailableWarning
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.store import file_status, read_markers
from hipercow_core.tasks import TaskSpec, create_tasks, tasks_status
from hipercow_windows_hpc.credentials import Credentials

pytestmark = pytest.mark.portal


@pytest.fixture
def windows(configure: Configure, portal: PortalStandin, logged_in: Credentials) -> None:
    """Windows nodes (simulated jobs), jobs kept queued, two retries after a first try."""
    configure(platform="windows", retries="2")
    portal.set_timings(queued=60)


def test_http_500s_are_retried(project: Root, portal: PortalStandin, windows: None) -> None:
    portal.add_fault("submit_1.php", "500", count=2)
    [task] = create_tasks(project, [TaskSpec(("true",))])
    assert file_status(project, task) == TaskStatus.SUBMITTED
    assert [c["status"] for c in calls(portal, "submit_1.php")] == [500, 500, 200]
    assert len(portal.jobs()) == 1


def test_http_500s_then_a_clear_error_and_the_tasks_stay_created(
    project: Root, portal: PortalStandin, windows: None
) -> None:
    portal.add_fault("submit_1.php", "500", count=3)
    with pytest.raises(DriverError) as caught:
        create_tasks(project, [TaskSpec(("true",)) for _ in range(3)])
    assert caught.value.message == (
        "3 of 3 tasks were not submitted: the portal did not answer the submission "
        "properly after 3 attempts: HTTP 500 from submit_1.php"
    )
    hint = caught.value.hint or ""
    assert "hipercow windows-hpc check" in hint and "stayed 'created'" in hint
    created = list(tasks_status(project, _all(project)).values())
    assert created == [TaskStatus.CREATED] * 3
    assert portal.jobs() == []
    assert len(calls(portal, "submit_1.php")) == 3, "no point trying the other tasks"


def test_timeouts_are_retried_then_reported_from_the_command_line(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows", timeout="0.3", retries="1")
    hpc("cluster", "info")  # cached: the next command needs only the login
    portal.add_fault("index.php", "slow", count=2, delay=1.0)
    done = hpc("task", "create", "--", "true", check=False)
    assert done.code == 1
    first, second = done.stderr.splitlines()
    [created] = json.loads(hpc("task", "list", "--status", "created", "--json").stdout)
    assert first == (
        f"Error: task {created['id']} was not submitted: the portal did not answer the login "
        "properly after 2 attempts: no answer from index.php within 0.3s"
    )
    assert "VPN" in second and "stayed 'created'" in second
    task_id = done.stdout.strip()
    assert task_id == ""  # nothing printed: the task id is in the list, still created
    [listed] = hpc("task", "list", "--status", "created").stdout.splitlines()
    assert "true" in listed
    assert len([c for c in portal.calls("index.php") if c["fault"] == "slow"]) == 2


def test_a_lost_answer_is_not_submitted_twice(
    project: Root, portal: PortalStandin, windows: None
) -> None:
    portal.add_fault("submit_1.php", "drop", after=True)
    portal.add_fault("submit_1.php", "garbage", after=True)
    portal.add_fault("submit_1.php", "slow", delay=2.5, after=True)
    ids = create_tasks(project, [TaskSpec(("true",)) for _ in range(3)])
    jobs = portal.jobs()
    assert sorted(j["name"] for j in jobs) == sorted(ids), "one job per task"
    for task_id in ids:
        marker = read_markers(project, task_id).submitted
        assert marker is not None
        assert marker.job_id == str(next(j["id"] for j in jobs if j["name"] == task_id))
    assert [c["fault"] for c in calls(portal, "submit_1.php")] == ["drop", "garbage", "slow"]


def test_garbled_and_dropped_status_answers_are_retried(
    project: Root, portal: PortalStandin, windows: None
) -> None:
    ids = create_tasks(project, [TaskSpec(("true",)) for _ in range(2)])
    portal.add_fault("_listalljobs.php", "garbage")
    portal.add_fault("_listalljobs.php", "drop")
    assert tasks_status(project, ids) == dict.fromkeys(ids, TaskStatus.SUBMITTED)
    listings = calls(portal, "_listalljobs.php")
    assert [c["fault"] for c in listings] == ["garbage", "drop", None]


def test_status_falls_back_to_the_files_when_the_portal_is_down(
    project: Root, portal: PortalStandin, windows: None
) -> None:
    ids = create_tasks(project, [TaskSpec(("true",))])
    portal.add_fault("_listalljobs.php", "500", count=3)
    with pytest.warns(SchedulerUnavailableWarning, match="could not ask windows-hpc about 1 task"):
        assert tasks_status(project, ids) == dict.fromkeys(ids, TaskStatus.SUBMITTED)


def test_a_refused_submission_names_the_portals_reason_and_the_rest_go_on(
    project: Root, portal: PortalStandin, windows: None
) -> None:
    [first] = create_tasks(project, [TaskSpec(("true",))])
    portal.reset()  # the portal forgets the job the next task depends on
    with pytest.raises(DriverError) as caught:
        create_tasks(project, [TaskSpec(("true",), depends_on=(first,)), TaskSpec(("true",))])
    job = read_markers(project, first).submitted
    assert job is not None
    assert caught.value.message.startswith(
        "1 of 2 tasks was not submitted: the portal did not accept the submission: "
        f"Error: the job was not submitted. 'dep' names unknown jobs [{job.job_id}]"
    )
    refused, accepted = portal.calls("submit_1.php")
    assert refused["error"] is not None and accepted["error"] is None
    assert len(portal.jobs()) == 1
    assert len([c for c in portal.calls("index.php") if c["method"] == "POST"]) == 1, (
        "a refusal is told from a lapsed session without logging in again"
    )


def _all(root: Root) -> list[str]:
    from hipercow_core.store import iter_task_ids

    return list(iter_task_ids(root))
