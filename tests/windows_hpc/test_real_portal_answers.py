"""The driver against the portal as it really answers, and as it answered before.

Each behaviour where the real portal differs from what was first assumed is a
mode of the stand-in (`modes` in its configuration): lapsed sessions answered
401 or 403 (or the older 200 login page), HPC Pack's node table, passing job
states, slow cancels, dependents of a failed job left Queued, the software
lists' two pairs of keys, and the listing's time order.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import PASSWORD, USER, Configure, PortalCli, calls, logins

from hipercow_core.drivers.registry import get_driver
from hipercow_core.root import Root
from hipercow_core.schema import Resources, TaskStatus
from hipercow_core.store import file_status, read_markers
from hipercow_core.tasks import (
    TaskSpec,
    cancel_tasks,
    create_tasks,
    submit_tasks,
    submit_with,
    task_info,
    tasks_status,
)
from hipercow_testing import BIN, wait_until
from hipercow_windows_hpc.credentials import Credentials, store_credentials
from hipercow_windows_hpc.driver import WindowsHpcDriver

pytestmark = pytest.mark.portal

SESSION_MODES = [
    pytest.param({"modes": {"sessions": "401"}}, id="401"),
    pytest.param({"modes": {"sessions": "403"}}, id="403"),
    pytest.param({"modes": {"sessions": "login-page"}}, id="login-page"),
]


def job_of(root: Root, task_id: str) -> str:
    marker = read_markers(root, task_id).submitted
    assert marker is not None and marker.job_id
    return marker.job_id


def refusal_status(portal: PortalStandin) -> int:
    """The HTTP status a lapsed session gets in this stand-in's sessions mode."""
    mode = portal.config.modes.sessions
    return 200 if mode == "login-page" else int(mode)


# -- sessions ----------------------------------------------------------------------------


@pytest.mark.parametrize("portal_extra", SESSION_MODES)
def test_sessions_lapsing_during_a_bundle_wait_of_50_tasks_end_with_their_true_status(
    hpc: PortalCli,
    share: Path,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
) -> None:
    # Polls back off to 1 s, longer than a session lives idle: the session
    # lapses between polls, as it does on the real portal during a long wait.
    # The tasks wait for a gate the test opens once the wait has seen lapses.
    configure(max_poll_interval="1")
    gate = share / "gate"
    command = f"while [ ! -e {gate} ]; do sleep 0.05; done; test @x -gt 10"
    created = hpc(
        "bulk", "create", "--name", "lapse", "--data", "x=1..50", "--", "sh", "-c", command
    )
    assert "bundle 'lapse' with 50 tasks" in created.stdout
    before = len(logins(portal))
    created_seq = max(c["seq"] for c in portal.calls())

    def listings_lapsed() -> list[dict[str, Any]]:
        """Status listings of the wait answered as a lapsed session."""
        return [
            c
            for c in portal.calls("_listalljobs.php")
            if c["outcome"] == "not-logged-in" and c["seq"] > created_seq
        ]

    # Only now do sessions lapse (0.5 s idle): the 50 submissions above were not
    # meant to meet lapses, which a busy machine's pauses would otherwise cause.
    portal.set_session_ttl(0.5)
    waiting = subprocess.Popen(
        [str(BIN / "hipercow"), "bundle", "wait", "lapse"],
        cwd=hpc.cwd,
        env=hpc.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: len(listings_lapsed()) >= 2, timeout=60)
        assert waiting.poll() is None, "the wait ended before its tasks did"
        gate.touch()
        out, err = waiting.communicate(timeout=180)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 1, out + err  # ten tasks fail, as they should
    counts = json.loads(hpc("bundle", "status", "lapse", "--summary", "counts", "--json").stdout)
    assert counts == {"success": 40, "failure": 10}
    assert len(portal.jobs()) == 50
    lapsed = [c for c in calls(portal) if c["outcome"] == "not-logged-in"]
    assert {c["status"] for c in lapsed} == {refusal_status(portal)}
    assert len(logins(portal)) - before >= len(listings_lapsed())
    assert all(c["outcome"] == "ok" for c in logins(portal))


@pytest.mark.parametrize(
    "portal_extra",
    [
        pytest.param({"modes": {"sessions": "401"}}, id="401"),
        pytest.param({"modes": {"sessions": "403"}}, id="403"),
    ],
)
def test_a_session_lapsing_right_after_the_login_is_not_a_wrong_password(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows")
    # The new session has lapsed by the time the head node list is answered.
    portal.add_fault("_listheadnodes.php", "lapse")
    [task] = create_tasks(project, [TaskSpec(("true",))])
    assert file_status(project, task) == TaskStatus.SUBMITTED
    assert [c["outcome"] for c in logins(portal)] == ["ok", "ok"]
    heads = calls(portal, "_listheadnodes.php")
    assert [c["status"] for c in heads] == [refusal_status(portal), 200]


@pytest.mark.parametrize("portal_extra", [pytest.param({"modes": {"sessions": "login-page"}})])
def test_on_the_older_portal_a_relogin_that_lapses_at_once_is_not_a_wrong_password(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    # The older portal answers a lapsed session's head node list as it answers a
    # wrong password: an empty list. After these credentials were accepted once in
    # this process, the client takes it for the lapse it is and logs in again.
    configure(platform="windows")
    portal.set_timings(queued=60)
    first, second = create_tasks(project, [TaskSpec(("true",)) for _ in range(2)], submit=False)
    submit_tasks(project, [first])
    portal.expire_sessions()
    portal.add_fault("_listheadnodes.php", "lapse")  # lapsed again right after the re-login
    submit_tasks(project, [second])
    assert file_status(project, second) == TaskStatus.SUBMITTED
    assert sorted(j["name"] for j in portal.jobs()) == sorted([first, second])
    assert [c["outcome"] for c in logins(portal)] == ["ok", "ok", "ok"]
    heads = calls(portal, "_listheadnodes.php")
    assert [c["outcome"] for c in heads] == [None, "empty", None]  # None: answered in full


@pytest.mark.parametrize("portal_extra", SESSION_MODES)
def test_a_wrong_password_gives_the_authentication_message(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, keyring_env: dict[str, str]
) -> None:
    configure(platform="windows")
    store_credentials(Credentials(USER, "not-the-password"))
    done = hpc("task", "create", "--", "true", check=False)
    assert done.code == 1
    first, second = done.stderr.splitlines()
    assert first.startswith("Error: task ") and first.endswith(
        f" was not submitted: the portal did not accept the password for '{USER}'"
    )
    assert "hipercow windows-hpc authenticate set" in second
    assert [c["outcome"] for c in logins(portal)] == ["wrong-password"], "one try per command"
    assert portal.jobs() == []

    checked = hpc("windows-hpc", "authenticate", "set", "-u", USER, stdin="wrong\n", check=False)
    assert checked.code == 1
    assert checked.stderr.splitlines() == [
        f"Error: the portal did not accept the password for '{USER}'",
        "  Run 'hipercow windows-hpc authenticate set' with your current DIDE password.",
    ]
    hpc("windows-hpc", "authenticate", "set", "-u", USER, stdin=PASSWORD)
    assert hpc("task", "create", "--", "true").stdout.strip()


@pytest.mark.parametrize("portal_extra", SESSION_MODES)
def test_a_submission_after_a_lapse_is_renewed_and_sent_once(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows")
    portal.set_timings(queued=60)
    ids = create_tasks(project, [TaskSpec(("true",)) for _ in range(2)], submit=False)
    submit_tasks(project, ids[:1])
    portal.expire_sessions()
    submit_tasks(project, ids[1:])
    assert sorted(j["name"] for j in portal.jobs()) == sorted(ids)
    [lapsed] = [c for c in calls(portal) if c["outcome"] == "not-logged-in"]
    assert (lapsed["path"], lapsed["status"]) == ("submit_1.php", refusal_status(portal))
    assert len(logins(portal)) == 2


# -- job states --------------------------------------------------------------------------


TWO_USERS = {"users": {USER: {"password": PASSWORD}, "alice": {"password": "alice-pw"}}}


def submit_as_alice(project: Root, ids: list[str]) -> None:
    """Submit tasks as alice: bob (the configured credentials) does not see them in his listing."""
    bob = get_driver(project)
    assert isinstance(bob, WindowsHpcDriver)
    alice = WindowsHpcDriver(
        project, bob.options, credentials=lambda: Credentials("alice", "alice-pw")
    )
    assert submit_with(project, alice, ids) == ids


def poll_until(
    portal: PortalStandin, project: Root, ids: list[str], done: set[TaskStatus]
) -> set[str]:
    """Poll as bob until every task is in `done`; the states the portal showed meanwhile.

    No poll may find a task failed while its job was not in a final state.
    """
    jobs = [int(job_of(project, t)) for t in ids]
    shown: set[str] = set()
    deadline = time.monotonic() + 30
    while True:
        states = {str(portal.job(j)["shown_state"]) for j in jobs}
        statuses = tasks_status(project, ids)
        after = {str(portal.job(j)["shown_state"]) for j in jobs}
        shown |= states
        if TaskStatus.FAILURE in statuses.values():
            # The portal may move on during the poll, so only the state after it counts.
            assert after == {"Finished"}, (states, after, statuses)
        if set(statuses.values()) <= done:
            return shown
        assert time.monotonic() < deadline, statuses
        time.sleep(0.05)


@pytest.mark.parametrize("portal_extra", [TWO_USERS])
def test_states_before_queued_leave_a_task_waiting(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    """A colleague's tasks are not in our listing: each job is asked about alone."""
    configure()
    portal.set_timings(queued=0.3, transient=0.5)
    ids = create_tasks(project, [TaskSpec(("sleep", "0.3")) for _ in range(2)], submit=False)
    submit_as_alice(project, ids)
    shown = poll_until(portal, project, ids, {TaskStatus.SUCCESS})
    assert {"Submitted", "Validating"} <= shown
    singles = calls(portal, "api/v1/get_job_status/")
    assert singles and {c["status"] for c in singles} == {200}
    assert all(task_info(project, t).reason is None for t in ids)


@pytest.mark.parametrize("portal_extra", [TWO_USERS])
def test_a_finishing_job_is_still_there(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    # A simulated Windows job runs no task: it ends without an outcome, once
    # the portal says Finished, not while it says Finishing.
    configure(platform="windows")
    portal.set_timings(queued=0, running=0.2, transient=0.6)
    ids = create_tasks(project, [TaskSpec(("true",))], submit=False)
    submit_as_alice(project, ids)
    shown = poll_until(portal, project, ids, {TaskStatus.FAILURE})
    assert "Finishing" in shown
    job = job_of(project, ids[0])
    info = task_info(project, ids[0])
    assert (info.reason, info.note) == ("lost", f"the portal reports job {job} Finished")


# -- dependencies ------------------------------------------------------------------------


@pytest.mark.parametrize("portal_extra", [{"modes": {"dependents": "queued"}}])
def test_a_task_whose_dependency_failed_fails_though_the_portal_leaves_it_queued(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
) -> None:
    configure()
    portal.set_timings(queued=1.0)
    [first] = create_tasks(project, [TaskSpec(("false",))])
    [second] = create_tasks(project, [TaskSpec(("true",), depends_on=(first,))])
    assert file_status(project, second) == TaskStatus.SUBMITTED
    waited = hpc("task", "wait", second, "--timeout", "30", check=False)
    assert waited.code == 1
    assert task_info(project, first).status == TaskStatus.FAILURE
    info = task_info(project, second)
    assert (info.status, info.reason) == (TaskStatus.FAILURE, "dependency failed")
    assert portal.wait_for_state(int(job_of(project, second)), "Canceled") == "Canceled"


# -- cancel ------------------------------------------------------------------------------


def test_a_slow_cancel_is_waited_for(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
) -> None:
    configure(platform="windows", timeout="0.5")  # shorter than the cancel: it has its own
    portal.set_timings(queued=60, cancel=1.5)
    ids = create_tasks(project, [TaskSpec(("true",)) for _ in range(2)])
    started = time.monotonic()
    done = hpc("task", "cancel", *ids)
    assert time.monotonic() - started >= 1.5
    assert done.stdout.splitlines() == [f"{t}  cancelled" for t in ids]
    [cancel] = calls(portal, "cancel.php")
    assert cancel["status"] == 200
    for task_id in ids:
        job = job_of(project, task_id)
        info = task_info(project, task_id)
        assert (info.reason, info.note) == ("cancelled", f"windows-hpc job {job} cancelled")
        assert portal.job(int(job))["state"] == "Canceled"


def test_a_cancel_that_times_out_is_checked_in_the_listing_not_sent_again(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
) -> None:
    configure(platform="windows", cancel_timeout="0.3")
    portal.set_timings(queued=60, cancel=3.0)
    ids = create_tasks(project, [TaskSpec(("true",)) for _ in range(2)])
    done = hpc("task", "cancel", *ids)
    assert done.stdout.splitlines() == [f"{t}  cancelled" for t in ids]
    assert len(calls(portal, "cancel.php")) == 1, "a cancel is never sent twice"
    after = [c["path"] for c in calls(portal)][-1]
    assert after == "_listalljobs.php"
    assert {task_info(project, t).status for t in ids} == {TaskStatus.CANCELLED}
    assert {j["state"] for j in portal.jobs()} == {"Canceled"}


def test_a_cancel_racing_the_end_of_a_job_is_not_reported_as_a_cancel(
    project: Root, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows")
    portal.set_timings(queued=60)
    [task] = create_tasks(project, [TaskSpec(("true",))])
    job = job_of(project, task)
    portal.set_state(int(job), "Failed")  # ends after core last looked, before the cancel
    report = get_driver(project).cancel({task: job})
    assert report.stopped == set()
    assert report.refused == {task: f"the portal answered WRONG_STATE for job {job}"}
    [cancel] = calls(portal, "cancel.php")
    assert cancel["outcome"] == f"{job}:WRONG_STATE"
    assert calls(portal)[-1]["path"] == "_listalljobs.php", "the listing says what happened"


# -- cluster info ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "portal_extra",
    [
        pytest.param({"offline_nodes": ["wpia-004"]}, id="hpc-pack"),
        pytest.param(
            {
                "offline_nodes": ["wpia-004"],
                "modes": {"node_table": "legacy", "software_keys": "software/linuxsoftware"},
            },
            id="as-first-served",
        ),
    ],
)
def test_cluster_info_shows_each_nodes_real_load(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
) -> None:
    configure(platform="windows")
    portal.set_timings(queued=0, running=120)
    ids = create_tasks(
        project,
        [
            TaskSpec(("true",), resources=Resources(cores=4)),
            TaskSpec(("true",), resources=Resources(cores=32, requested_nodes=("wpia-002",))),
        ],
    )
    for task_id in ids:
        portal.wait_for_state(int(job_of(project, task_id)), "Running")
    info = json.loads(hpc("cluster", "info", "--json").stdout)
    states = {node["name"]: node.get("state", "idle") for node in info["nodes"]}
    assert states == {
        "wpia-001": "4/32 cores busy",
        "wpia-002": "busy",
        "wpia-003": "idle",
        "wpia-004": "offline",
    }
    pythons = {(s["version"], s["platform"]) for s in info["software"] if s["name"] == "python"}
    assert ("3.12.4", "windows") in pythons and ("3.12.4", "linux") in pythons
    table = hpc("cluster", "info").stdout
    assert "4/32 cores busy" in table and "offline" in table
    cancel_tasks(project, ids)


@pytest.mark.parametrize(
    "portal_extra", [pytest.param({"modes": {"listing_times": "start,end,submit"}}, id="old-order")]
)
def test_tasks_run_and_are_followed_whatever_the_listings_time_order(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
) -> None:
    configure()
    ids = create_tasks(project, [TaskSpec(("true",)), TaskSpec(("false",))])
    waited = [hpc("task", "wait", t, "--timeout", "60", check=False).code for t in ids]
    assert waited == [0, 1]
    assert [task_info(project, t).status for t in ids] == [TaskStatus.SUCCESS, TaskStatus.FAILURE]
