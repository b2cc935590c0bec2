"""Every portal call and form field the driver sends, checked in the stand-in's call log."""

from __future__ import annotations

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import USER, Configure, calls, logins

from hipercow_core.drivers.registry import get_driver
from hipercow_core.resources import parse_resources
from hipercow_core.root import Root
from hipercow_core.schema import Resources, TaskStatus
from hipercow_core.store import read_markers
from hipercow_core.tasks import (
    TaskSpec,
    cancel_tasks,
    create_tasks,
    submit_tasks,
    task_info,
    tasks_status,
)
from hipercow_windows_hpc.credentials import Credentials

pytestmark = pytest.mark.portal

FORM = "application/x-www-form-urlencoded"


def job_of(root: Root, task_id: str) -> str:
    marker = read_markers(root, task_id).submitted
    assert marker is not None and marker.driver == "windows-hpc" and marker.job_id
    return marker.job_id


def unc_of_batch(root: Root, task_id: str) -> str:
    relative = root.task_dir(task_id).relative_to(root.project.parent)
    return "\\\\wpia-hn\\hipercow\\" + "\\".join(relative.parts) + "\\run.bat"


def test_every_resource_field_reaches_the_submit_form(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows")
    [first] = create_tasks(project, [TaskSpec(("hostname",))])
    resources = parse_resources(
        cores="4",
        exclusive=True,
        max_runtime="1h30",
        hold_until="2h",
        memory_per_node="16G",
        memory_per_task="512M",
        requested_nodes=["wpia-001,wpia-002"],
        priority="low",
        queue="Testing",
    )
    second, whole = create_tasks(
        project,
        [
            TaskSpec(("hostname",), resources=resources, depends_on=(first,)),
            TaskSpec(("hostname",), resources=Resources(cores="node")),
        ],
    )
    submits = calls(portal, "submit_1.php")
    assert [s["fields"]["jn"] for s in submits] == [first, second, whole]
    version = submits[0]["fields"]["ver"]
    assert version.startswith("hipercow-windows-hpc/")
    common = {
        "cluster": "wpia-hn",
        "wd": "",
        "se": "",
        "so": "",
        "hpcfunc": "submit",
        "ver": version,
    }
    assert submits[0]["fields"] == {
        **common,
        "jn": first,
        "template": "AllNodes",
        "jobs": f'call "{unc_of_batch(project, first)}"',
        "dep": "",
        "rc": "1",
        "rt": "Cores",
    }
    assert submits[1]["fields"] == {
        **common,
        "jn": second,
        "template": "Testing",
        "jobs": f'call "{unc_of_batch(project, second)}"',
        "dep": job_of(project, first),
        "rc": "4",
        "rt": "Cores",
        "exc": "1",
        "mpn": "16000",
        "epm": "512",
        "rnt": "90",
        "hu": "120",
        "rn": "wpia-001,wpia-002",
        "pri": "low",
    }
    assert (submits[2]["fields"]["rc"], submits[2]["fields"]["rt"]) == ("1", "Nodes")
    for submit in submits:
        raw = submit["raw_fields"]
        assert raw["hpcfunc"] == "submit"  # plain, as the reference says
        assert all(raw[k] != v for k, v in submit["fields"].items() if k != "hpcfunc" and v)
        assert (submit["accept"], submit["content_type"]) == ("text/plain", FORM)
    jobs = {str(j["id"]): j for j in portal.jobs()}
    assert jobs[job_of(project, second)]["resources"]["hu"] == "120"
    assert jobs[job_of(project, second)]["deps"] == [int(job_of(project, first))]


def test_status_cancel_log_and_cluster_calls(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows")
    portal.set_timings(queued=60)
    ids = create_tasks(project, [TaskSpec(("hostname",)) for _ in range(3)])
    jobs = [job_of(project, t) for t in ids]
    driver = get_driver(project)

    assert tasks_status(project, ids) == dict.fromkeys(ids, TaskStatus.SUBMITTED)
    [listing] = calls(portal, "_listalljobs.php")
    assert listing["fields"] == {"user": USER, "scheduler": "wpia-hn", "state": "*", "jobs": "-1"}

    assert cancel_tasks(project, ids[:2]) == dict.fromkeys(ids[:2], True)
    [cancel] = calls(portal, "cancel.php")
    assert cancel["fields"] == {
        "cluster": "wpia-hn",
        "hpcfunc": "cancel",
        f"c{jobs[0]}": jobs[0],
        f"c{jobs[1]}": jobs[1],
    }
    assert cancel["raw_fields"][f"c{jobs[0]}"] == jobs[0]
    assert cancel["outcome"] == f"{jobs[1]}:OK,{jobs[0]}:OK", "newest first"
    cancelled = task_info(project, ids[0])
    assert cancelled.reason == "cancelled"
    assert cancelled.note == f"windows-hpc job {jobs[0]} cancelled"

    assert driver.outer_log(ids[2], jobs[2]) == ""
    [log] = calls(portal, "showjobfail.php")
    assert log["fields"] == {"cluster": "wpia-hn", "hpcfunc": "showfail", "id": jobs[2]}
    assert log["raw_fields"]["id"] == jobs[2]

    info = driver.cluster_info()
    assert info.name == "wpia-hn" and info.default_queue == "AllNodes"
    assert {n.state for n in info.nodes} == {"idle"}
    create_load, nodes = calls(portal, "shownodes.php")  # `task create` asked too
    assert create_load["fields"] == nodes["fields"]
    assert nodes["fields"] == {"cluster": "wpia-hn", "hpcfunc": "shownodes", "cluster_no": "1"}
    assert [c["path"] for c in calls(portal) if c["method"] == "GET"] == [
        "api/v1/cluster_info/wpia-hn/windows/",
        "api/v1/cluster_software/",
    ]

    # A job the portal has forgotten is asked about alone, and found gone.
    portal.reset()
    assert tasks_status(project, ids[2:]) == {ids[2]: TaskStatus.FAILURE}
    [single] = portal.calls("api/v1/get_job_status/")
    assert single["query"] == {"scheduler": "wpia-hn", "jobid": jobs[2]}
    assert (single["status"], single["error"]) == (404, f"no job {jobs[2]}")
    gone = task_info(project, ids[2])
    assert gone.reason == "lost"
    assert gone.note is not None and f"the portal no longer knows job {jobs[2]}" in gone.note
    for call in portal.calls():
        if call["method"] == "POST":
            assert (call["accept"], call["content_type"]) == ("text/plain", FORM)


def test_a_hundred_tasks_are_submitted_with_one_login(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows")
    portal.set_timings(queued=60)
    ids = create_tasks(project, [TaskSpec(("echo", str(i))) for i in range(100)])
    [login] = logins(portal)
    submits = calls(portal, "submit_1.php")
    assert [s["fields"]["jn"] for s in submits] == ids
    assert {s["session"] for s in submits} == {login["session"]}
    assert len({job_of(project, t) for t in ids}) == 100

    assert set(tasks_status(project, ids).values()) == {TaskStatus.SUBMITTED}
    assert len(calls(portal, "_listalljobs.php")) == 1, "one status call per poll"


def test_an_expired_session_is_renewed_without_the_user_noticing(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows")
    portal.set_timings(queued=60)
    ids = create_tasks(project, [TaskSpec(("true",)) for _ in range(2)], submit=False)
    submit_tasks(project, ids[:1])
    before = len(logins(portal))
    portal.expire_sessions()
    submit_tasks(project, ids[1:])
    portal.expire_sessions()
    assert tasks_status(project, ids) == dict.fromkeys(ids, TaskStatus.SUBMITTED)
    assert len(logins(portal)) == before + 2
    lapsed = [c["path"] for c in calls(portal) if c["outcome"] == "not-logged-in"]
    assert lapsed == ["submit_1.php", "_listalljobs.php"]
    assert len(portal.jobs()) == 2


def test_ended_jobs_are_written_back_with_their_reason(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    from datetime import UTC, datetime

    from hipercow_core.schema import FinishedMarker
    from hipercow_core.store import mark_finished

    configure(platform="windows")
    portal.set_timings(queued=60)
    failed, cancelled, raced, queued = create_tasks(
        project, [TaskSpec(("true",)) for _ in range(4)]
    )
    portal.set_state(int(job_of(project, failed)), "Failed")
    portal.set_state(int(job_of(project, cancelled)), "Canceled")
    # The runner finished just before the portal's answer: its outcome stands.
    mark_finished(project, raced, FinishedMarker(TaskStatus.SUCCESS, datetime.now(UTC), 0))
    portal.set_state(int(job_of(project, raced)), "Failed")
    assert tasks_status(project, [failed, cancelled, raced, queued]) == {
        failed: TaskStatus.FAILURE,
        cancelled: TaskStatus.CANCELLED,
        raced: TaskStatus.SUCCESS,
        queued: TaskStatus.SUBMITTED,
    }
    job = job_of(project, failed)
    failed_info = task_info(project, failed)
    assert failed_info.reason == "job ended before the task started"
    assert (
        failed_info.note is not None and f"the portal reports job {job} Failed" in failed_info.note
    )
    assert task_info(project, raced).reason is None


def test_a_tasks_name_is_the_portal_job_name_beside_its_id(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows")
    named, plain = create_tasks(
        project, [TaskSpec(("hostname",), name="fit ols"), TaskSpec(("hostname",))]
    )
    submits = calls(portal, "submit_1.php")
    assert [s["fields"]["jn"] for s in submits] == [f"fit ols ({named})", plain]


def test_after_any_on_a_running_job_is_refused_by_the_portal_driver(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    from hipercow_core.errors import DriverError

    configure(platform="windows")
    portal.set_timings(queued=60)
    [first] = create_tasks(project, [TaskSpec(("hostname",))])
    with pytest.raises(DriverError, match=r"--after-any"):
        create_tasks(project, [TaskSpec(("hostname",), after_any=(first,))])
    assert len(calls(portal, "submit_1.php")) == 1
