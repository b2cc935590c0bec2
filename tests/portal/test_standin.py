"""The stand-in HPC portal, driven over real HTTP on loopback with urllib only.

These tests pin the stand-in to the protocol in shared/reference/hpc-portal.md,
so that driver tests run against it prove something about the real portal.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hpc_portal import PortalStandin
from hpc_portal.testing import live_processes_in_groups, running_standin, wait_until_gone

pytestmark = pytest.mark.portal

HEAD = "wpia-hn"
SUBMIT_RE = re.compile(r"^Job has been submitted\. ID: (\d+)\.$", re.MULTILINE)
TIME_RE = re.compile(r"^\d{14}$")


def b64(text: str) -> str:
    """Encode as the portal's clients do."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def unb64(text: str) -> str:
    """Decode a portal base64 value."""
    return base64.b64decode(text, validate=True).decode("utf-8")


class RawClient:
    """A bare portal client: one PHPSESSID cookie, forms encoded per the reference."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookie: str | None = None

    def request(
        self,
        method: str,
        path: str,
        fields: Mapping[str, str] | None = None,
        *,
        body: bytes | None = None,
        content_type: str = "application/x-www-form-urlencoded",
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        """One call; returns (status, body) for any HTTP status, keeps the session cookie."""
        data = body if body is not None else None
        if fields is not None:
            data = urlencode(fields).encode("ascii")
        headers = {"Accept": "text/plain"}
        if data is not None:
            headers["Content-Type"] = content_type
        if self.cookie:
            headers["Cookie"] = self.cookie
        req = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, payload, answer_headers = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            status, payload, answer_headers = exc.code, exc.read(), exc.headers
        set_cookie = answer_headers.get("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";", 1)[0]
        return status, payload

    def post(self, path: str, fields: Mapping[str, str], **kwargs: Any) -> str:
        """A POST that must answer 200; returns the text."""
        status, payload = self.request("POST", path, fields, **kwargs)
        assert status == 200, payload
        return payload.decode("utf-8")

    def get(self, path: str) -> tuple[int, str]:
        """A GET; returns (status, text)."""
        status, payload = self.request("GET", path)
        return status, payload.decode("utf-8")

    def login(self, user: str, password: str) -> str:
        """Log in; returns the page."""
        return self.post(
            "index.php", {"us": b64(user), "pw": b64(password), "hpcfunc": b64("login")}
        )

    def head_nodes(self) -> list[str]:
        """The head nodes this session may use."""
        return self.post("_listheadnodes.php", {"user": b64("")}).split()

    def head_nodes_status(self) -> int:
        """The HTTP status of the head node list (401 or 403 without a login, by mode)."""
        return self.request("POST", "_listheadnodes.php", {"user": b64("")})[0]

    def submit_status(self) -> tuple[int, str]:
        """A valid submit's HTTP status and text (a refusal when not logged in)."""
        status, payload = self.request("POST", "submit_1.php", self.submit_fields("x"))
        return status, payload.decode("utf-8")

    def submit_fields(self, command: str, **extra: str) -> dict[str, str]:
        """A valid submit form (Windows AllNodes, 1 core) with ``extra`` decoded fields."""
        decoded = {
            "cluster": HEAD,
            "template": "AllNodes",
            "jn": "task-1",
            "wd": "",
            "se": "",
            "so": "",
            "jobs": command,
            "dep": "",
            "ver": "hipercow-test/0.1",
            "rc": "1",
            "rt": "Cores",
        }
        decoded.update(extra)
        fields = {name: b64(value) for name, value in decoded.items()}
        fields["hpcfunc"] = "submit"
        return fields

    def submit(self, command: str = r'call "\\server\share\t\run.bat"', **extra: str) -> str:
        """Submit; returns the raw answer text."""
        return self.post("submit_1.php", self.submit_fields(command, **extra))

    def submit_ids(
        self, command: str = r'call "\\server\share\t\run.bat"', **extra: str
    ) -> list[int]:
        """Submit; returns the job ids, failing if there are none."""
        answer = self.submit(command, **extra)
        ids = [int(i) for i in SUBMIT_RE.findall(answer)]
        assert ids, answer
        return ids

    def cancel(self, *ids: int) -> str:
        """Cancel jobs; returns the answer."""
        fields = {"cluster": b64(HEAD), "hpcfunc": b64("cancel")}
        fields.update({f"c{i}": str(i) for i in ids})
        return self.post("cancel.php", fields)

    def log(self, job_id: int) -> str | None:
        """The job log, decoded, as showjobfail gives it (None if the page has none)."""
        page = self.post(
            "showjobfail.php", {"cluster": b64(HEAD), "hpcfunc": "showfail", "id": str(job_id)}
        )
        match = re.search(r'<input id="res" value="([^"]*)">', page)
        return unb64(match.group(1)) if match else None

    def list_jobs(self, user: str = "bob", state: str = "*", jobs: str = "-1") -> str:
        """_listalljobs' answer."""
        fields = {"user": b64(user), "scheduler": b64(HEAD), "state": b64(state), "jobs": b64(jobs)}
        return self.post("_listalljobs.php", fields)

    def status(self, job_id: int) -> str:
        """get_job_status' answer."""
        code, text = self.get(f"api/v1/get_job_status/?scheduler={HEAD}&jobid={job_id}")
        assert code == 200, text
        return text


def control(portal: PortalStandin, name: str, payload: Mapping[str, Any] | None = None) -> Any:
    """Call the stand-in's control API over HTTP; returns the decoded JSON."""
    data = json.dumps(payload).encode() if payload is not None else None
    method = "POST" if payload is not None else "GET"
    req = urllib.request.Request(portal.control_url + name, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def bob(bob_password: str, portal: PortalStandin) -> RawClient:
    """bob, logged in."""
    client = RawClient(portal.url)
    client.login("bob", bob_password)
    assert client.head_nodes() == [HEAD]
    return client


def write_task(mounts: dict[str, Path], body: str, name: str = "ab/cdef") -> str:
    """Write run.sh under the cluster share; returns its path as a Linux node sees it."""
    task = mounts["/mnt/cluster"] / "proj" / "hipercow" / "tasks" / name
    task.mkdir(parents=True)
    (task / "run.sh").write_text(body)
    return f"/mnt/cluster/proj/hipercow/tasks/{name}/run.sh"


# -- login ------------------------------------------------------------------------


def test_login_sets_php_session_and_lists_head_node(
    bob_password: str, portal: PortalStandin
) -> None:
    client = RawClient(portal.url)
    page = client.login("bob", bob_password)
    assert "You don't seem to have any HPC access" not in page
    assert client.cookie is not None
    assert re.fullmatch(r"PHPSESSID=[a-z0-9]{26}", client.cookie)
    assert client.head_nodes() == [HEAD]
    login = portal.calls("index.php")[-1]
    assert login["fields"] == {"us": "bob", "pw": "***", "hpcfunc": "login"}
    assert login["outcome"] == "ok" and login["user"] == "bob" and login["error"] is None
    assert portal.calls("_listheadnodes.php")[-1]["user"] == "bob"


def login_answer(portal: PortalStandin, user: str, password: str) -> tuple[int, str, RawClient]:
    """A login's HTTP status and page, and the client (with whatever cookie it got)."""
    client = RawClient(portal.url)
    fields = {"us": b64(user), "pw": b64(password), "hpcfunc": b64("login")}
    status, payload = client.request("POST", "index.php", fields)
    return status, payload.decode("utf-8"), client


@pytest.mark.parametrize("mode", [401, 403])
def test_a_failed_login_and_a_missing_session_are_refused_with_the_mode_status(
    bob_password: str, portal_config: dict[str, Any], mode: int
) -> None:
    with running_standin({**portal_config, "modes": {"sessions": str(mode)}}) as standin:
        status, page, client = login_answer(standin, "bob", "not-the-password")
        assert status == mode and ("Forbidden" if mode == 403 else "Unauthorized") in page
        assert standin.calls("index.php")[-1]["outcome"] == "wrong-password"
        assert client.cookie is None
        assert client.head_nodes_status() == mode
        assert client.submit_status()[0] == mode
        # A domain-qualified name is not a user: clients must strip "DIDE\".
        assert login_answer(standin, "DIDE\\bob", bob_password)[0] == mode
        assert login_answer(standin, "nobody", "x")[0] == mode
        status, _, client = login_answer(standin, "bob", bob_password)
        assert status == 200 and client.head_nodes() == [HEAD]
        assert "Job has been submitted" in client.submit()


def test_the_default_sessions_mode_is_403(portal: PortalStandin) -> None:
    assert login_answer(portal, "bob", "not-the-password")[0] == 403
    assert RawClient(portal.url).submit_status()[0] == 403


def test_older_portal_wrong_password_shows_only_as_empty_head_nodes(
    bob_password: str, portal_config: dict[str, Any]
) -> None:
    with running_standin({**portal_config, "modes": {"sessions": "login-page"}}) as standin:
        client = RawClient(standin.url)
        good = RawClient(standin.url).login("bob", bob_password)
        page = client.login("bob", "not-the-password")
        assert page == good  # not reported at login
        assert client.cookie is not None
        assert client.head_nodes() == []
        assert standin.calls("index.php")[-1]["outcome"] == "wrong-password"
        other = RawClient(standin.url)
        other.login("DIDE\\bob", bob_password)
        assert other.head_nodes() == []
        status, answer = other.submit_status()
        assert status == 200 and 'name="pw"' in answer and "Job has been submitted" not in answer


def test_user_without_hpc_access(portal: PortalStandin) -> None:
    client = RawClient(portal.url)
    page = client.login("carol", "carol-pw")
    assert "You don't seem to have any HPC access" in page
    assert client.head_nodes() == []
    answer = client.submit()
    assert not SUBMIT_RE.search(answer)
    assert "You don't seem to have any HPC access" in answer


def test_login_counting_and_logout(
    bob_password: str, portal: PortalStandin, bob: RawClient
) -> None:
    bob.login("bob", bob_password)
    logins = [c for c in portal.calls() if c["path"] == "index.php" and c["method"] == "POST"]
    assert len(logins) == 2
    status, _ = bob.get("logout.php")
    assert status == 200
    assert bob.head_nodes_status() == 403
    assert bob.submit_status()[0] == 403


# -- strictness ---------------------------------------------------------------------


def test_login_refuses_plain_fields(bob_password: str, portal: PortalStandin) -> None:
    client = RawClient(portal.url)
    status, body = client.request(
        "POST", "index.php", {"us": "bob", "pw": bob_password, "hpcfunc": "login"}
    )
    assert status == 400
    assert b"base64" in body
    assert portal.calls("index.php")[-1]["error"]


def test_unescaped_plus_in_base64_is_caught(bob_password: str, portal: PortalStandin) -> None:
    client = RawClient(portal.url)
    raw = f"us={b64('bob')}&pw={b64(bob_password)}&hpcfunc={b64('login')}"
    assert "+" in raw
    status, _ = client.request("POST", "index.php", body=raw.encode())
    assert status == 400


def test_wrong_content_type_and_method(portal: PortalStandin, bob: RawClient) -> None:
    status, _ = bob.request(
        "POST",
        "_listheadnodes.php",
        body=json.dumps({"user": ""}).encode(),
        content_type="application/json",
    )
    assert status == 400
    status, _ = bob.request("GET", "submit_1.php")
    assert status == 405
    status, _ = bob.request("GET", "no-such-page.php")
    assert status == 404


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"hpcfunc": b64("submit")}, "hpcfunc is plain"),
        ({"jobs": "echo hi"}, "jobs must be base64"),
        ({"rt": None}, "rt is required"),
        ({"rogue": b64("1")}, "unknown field"),
        ({"cluster": b64("fi--dideclusthn")}, "unknown head node"),
        ({"template": b64("NoSuchQueue")}, "unknown queue"),
        ({"rc": b64("33")}, "more cores than a node has"),
        ({"rt": b64("cores")}, "rt is Cores or Nodes"),
        ({"wd": b64("Q:\\proj")}, "wd is empty on Windows"),
        ({"dep": b64("1, 2")}, "dep is comma-joined ids"),
        ({"dep": b64("12345")}, "dep on an unknown job"),
        ({"pri": b64("high")}, "pri is low or normal"),
        ({"exc": b64("true")}, "exc is 1"),
        ({"mpn": b64("16GB")}, "mpn is megabytes"),
        ({"rn": b64("wpia-999")}, "unknown node"),
        ({"hu": b64("2024-01-01 10:00:00")}, "hu date must be quoted"),
        ({"se": b64("out.txt")}, "se is empty"),
    ],
)
def test_submit_refuses_bad_requests(
    portal: PortalStandin, bob: RawClient, change: dict[str, str | None], why: str
) -> None:
    fields = bob.submit_fields(r'call "\\server\share\run.bat"')
    for name, value in change.items():
        if value is None:
            del fields[name]
        else:
            fields[name] = value
    answer = bob.post("submit_1.php", fields)
    assert not SUBMIT_RE.search(answer), why
    assert "Error" in answer
    assert portal.calls("submit_1.php")[-1]["error"], why
    assert portal.jobs() == []


# -- submit -----------------------------------------------------------------------------


def test_submit_increasing_ids_and_every_field_recorded(
    portal: PortalStandin, bob: RawClient
) -> None:
    first = bob.submit_ids()
    extra = {
        "template": "Testing",
        "jn": "big-task",
        "rc": "1",
        "rt": "Nodes",
        "exc": "1",
        "mpn": "64000",
        "epm": "4000",
        "rnt": "90",
        "hu": '"2030-01-02 03:04:05"',
        "rn": "wpia-002,wpia-003",
        "pri": "low",
        "dep": str(first[0]),
    }
    second = bob.submit_ids(r'call "\\server\share\t2\run.bat"', **extra)
    third = bob.submit_ids()
    assert first == [497979]
    assert second == [497980]
    assert third == [497981]
    call = portal.calls("submit_1.php")[1]
    assert call["error"] is None
    assert call["user"] == "bob"
    assert call["accept"] == "text/plain"
    assert call["fields"]["hpcfunc"] == "submit"
    assert call["fields"]["jobs"] == r'call "\\server\share\t2\run.bat"'
    assert call["fields"]["ver"] == "hipercow-test/0.1"
    for name, value in extra.items():
        assert call["fields"][name] == value
        assert call["raw_fields"][name] == b64(value)
    job = portal.job(second[0])
    assert job["resources"] == {
        k: v for k, v in extra.items() if k not in ("template", "jn", "dep")
    }
    assert job["deps"] == first
    assert job["state"] == "Queued"  # held until 2030


def test_submit_answer_has_noise_and_one_line_per_job(bob: RawClient) -> None:
    answer = bob.submit("echo one\necho two")
    lines = answer.splitlines()
    assert len(lines) > 2
    assert [int(i) for i in SUBMIT_RE.findall(answer)] == [497979, 497980]
    assert sum(1 for line in lines if SUBMIT_RE.match(line)) == 2


def test_concurrent_submits_get_distinct_ids(portal: PortalStandin, bob: RawClient) -> None:
    results: list[int] = []

    def submit_some() -> None:
        client = RawClient(portal.url)
        client.cookie = bob.cookie
        for _ in range(5):
            results.extend(client.submit_ids())

    threads = [threading.Thread(target=submit_some) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == list(range(497979, 497979 + 40))


def test_first_job_id_is_configurable(bob_password: str, portal_config: dict[str, Any]) -> None:
    with PortalStandin({**portal_config, "first_job_id": 1200}) as standin:
        client = RawClient(standin.url)
        client.login("bob", bob_password)
        assert client.submit_ids() == [1200]


# -- Linux jobs really run ---------------------------------------------------------------


def test_linux_job_runs_under_translated_mounts(
    portal: PortalStandin, bob: RawClient, mounts: dict[str, Path]
) -> None:
    (mounts["/mnt/cluster"] / "proj").mkdir()
    (mounts["/mnt/cluster"] / "proj" / "input.txt").write_text("input-data\n")
    script_text = (
        "#!/bin/bash\n"
        "set -e\n"
        'echo "task dir: $(cd "$(dirname "$0")" && pwd)"\n'
        'echo "cwd: $(pwd)"\n'
        "cat /mnt/cluster/proj/input.txt\n"
        "echo written > /mnt/homes/bob/out.txt\n"
        "echo to-stderr >&2\n"
        'echo "cores=$CCP_NUMCPUS job=$CCP_JOBID"\n'
    )
    script = write_task(mounts, script_text)
    [job_id] = bob.submit_ids(
        f"bash {script}", template="LinuxNodes", wd="/mnt/cluster/proj", rc="4"
    )
    assert portal.wait_for_state(job_id, ("Finished", "Failed")) == "Finished"
    assert bob.status(job_id) == "Finished"
    assert (mounts["/mnt/homes/bob"] / "out.txt").read_text() == "written\n"

    log = bob.log(job_id)
    assert log is not None
    assert log.startswith("Output :\n\n")
    body = log.split("\n", 1)[1].lstrip("\n")
    task_dir = mounts["/mnt/cluster"] / "proj" / "hipercow" / "tasks" / "ab" / "cdef"
    assert f"task dir: {task_dir}" in body
    assert f"cwd: {mounts['/mnt/cluster'] / 'proj'}" in body
    assert "input-data" in body
    assert "to-stderr" in body
    assert f"cores=4 job={job_id}" in body

    job = portal.job(job_id)
    assert job["command"] == f"bash {script}"
    assert str(mounts["/mnt/cluster"]) in job["translated_command"]
    assert job["exit_code"] == 0
    # The script itself is untouched and its translated copy is gone.
    assert (task_dir / "run.sh").read_text() == script_text
    assert sorted(p.name for p in task_dir.iterdir()) == ["run.sh"]


def test_linux_job_failure_and_bad_workdir(
    portal: PortalStandin, bob: RawClient, mounts: dict[str, Path]
) -> None:
    script = write_task(mounts, "echo about to fail\nexit 3\n")
    [failing] = bob.submit_ids(f"bash {script}", template="LinuxNodes")
    [lost] = bob.submit_ids(f"bash {script}", template="LinuxNodes", wd="/mnt/elsewhere/x")
    assert portal.wait_for_state(failing, ("Finished", "Failed")) == "Failed"
    assert portal.job(failing)["exit_code"] == 3
    log = bob.log(failing)
    assert log is not None and "about to fail" in log
    assert portal.wait_for_state(lost, ("Finished", "Failed")) == "Failed"
    lost_log = bob.log(lost)
    assert lost_log is not None and "no configured mount" in lost_log


# -- Windows jobs are simulated ------------------------------------------------------------


def test_windows_job_simulated_timings(portal: PortalStandin, bob: RawClient) -> None:
    portal.set_timings(queued=0.4, running=0.4)
    submitted = time.monotonic()
    [job_id] = bob.submit_ids()
    assert bob.status(job_id) == "Queued"
    portal.wait_for_state(job_id, "Running")
    running_at = time.monotonic()
    assert running_at - submitted >= 0.35
    assert bob.status(job_id) == "Running"
    portal.wait_for_state(job_id, ("Finished", "Failed"))
    assert time.monotonic() - running_at >= 0.3
    assert bob.status(job_id) == "Finished"
    job = portal.job(job_id)
    assert job["end_time"] - job["start_time"] >= 0.39
    log = bob.log(job_id)
    assert log is not None and log.startswith("Output :\n\n")


def test_windows_outcome_configurable(portal: PortalStandin, bob: RawClient) -> None:
    portal.set_timings(queued=0, running=0, outcome="Failed")
    [job_id] = bob.submit_ids()
    assert portal.wait_for_state(job_id, ("Finished", "Failed")) == "Failed"
    assert bob.status(job_id) == "Failed"


def test_windows_outcome_by_job_name(bob_password: str, portal_config: dict[str, Any]) -> None:
    config = {**portal_config, "windows_outcomes": {"doomed": "Failed"}}
    with PortalStandin(config) as standin:
        client = RawClient(standin.url)
        client.login("bob", bob_password)
        [ok] = client.submit_ids(jn="fine")
        [bad] = client.submit_ids(jn="doomed")
        assert standin.wait_for_state(ok, ("Finished", "Failed")) == "Finished"
        assert standin.wait_for_state(bad, ("Finished", "Failed")) == "Failed"


def test_windows_batch_file_checked_against_shares(
    bob_password: str, portal_config: dict[str, Any], tmp_path: Path
) -> None:
    share = tmp_path / "share"
    (share / "t").mkdir(parents=True)
    (share / "t" / "run.bat").write_text("@echo off\r\n")
    config = {**portal_config, "windows_shares": {r"\\qdrive\homes\bob": str(share)}}
    with PortalStandin(config) as standin:
        client = RawClient(standin.url)
        client.login("bob", bob_password)
        [ok] = client.submit_ids(r'call "\\qdrive\homes\bob\t\run.bat"')
        [missing] = client.submit_ids(r'call "\\qdrive\homes\bob\u\run.bat"')
        [elsewhere] = client.submit_ids(r'call "\\other\share\run.bat"')
        assert standin.wait_for_state(ok, ("Finished", "Failed")) == "Finished"
        assert standin.wait_for_state(missing, ("Finished", "Failed")) == "Failed"
        assert standin.wait_for_state(elsewhere, ("Finished", "Failed")) == "Failed"
        log = client.log(missing)
        assert log is not None and "cannot find the path" in log


# -- dependencies ----------------------------------------------------------------------------


def test_dependencies_wait_then_cancel_on_failure(portal: PortalStandin, bob: RawClient) -> None:
    portal.set_timings(queued=0.05, running=0.3)
    [first] = bob.submit_ids()
    [second] = bob.submit_ids(dep=str(first))
    portal.wait_for_state(first, "Running")
    assert bob.status(second) == "Queued"
    portal.wait_for_state(first, "Finished")
    assert portal.wait_for_state(second, ("Finished", "Failed")) == "Finished"
    assert portal.job(second)["start_time"] >= portal.job(first)["end_time"]

    portal.set_timings(queued=30)
    [doomed] = bob.submit_ids()
    [child] = bob.submit_ids(dep=f"{second},{doomed}")
    portal.set_state(doomed, "Failed")
    assert portal.wait_for_state(child, ("Canceled", "Finished", "Failed")) == "Canceled"
    assert bob.status(child) == "Canceled"


def test_dependents_of_a_failed_job_can_be_left_queued(
    bob_password: str, portal_config: dict[str, Any]
) -> None:
    with running_standin({**portal_config, "modes": {"dependents": "queued"}}) as standin:
        standin.set_timings(queued=30)
        bob = RawClient(standin.url)
        bob.login("bob", bob_password)
        [doomed] = bob.submit_ids()
        [child] = bob.submit_ids(dep=str(doomed))
        [grandchild] = bob.submit_ids(dep=str(child))
        standin.set_state(doomed, "Failed")
        submitted = time.monotonic()
        # Nothing will change: the scheduler has had many passes when the listing says so.
        while time.monotonic() - submitted < 0.3:
            assert (bob.status(child), bob.status(grandchild)) == ("Queued", "Queued")
        assert bob.cancel(child) == f"{child}\tOK\n"
        assert bob.status(grandchild) == "Queued"


# -- cancel ------------------------------------------------------------------------------------


def test_cancel_running_linux_job_kills_it(
    portal: PortalStandin, bob: RawClient, mounts: dict[str, Path]
) -> None:
    script = write_task(mounts, "echo started\nsleep 30 &\nsleep 30\n")
    [job_id] = bob.submit_ids(f"bash {script}", template="LinuxNodes")
    portal.wait_for_state(job_id, "Running")
    pgid = portal.job(job_id)["pgid"]
    deadline = time.monotonic() + 5
    while len(live_processes_in_groups([pgid])) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(live_processes_in_groups([pgid])) >= 3
    assert bob.cancel(job_id) == f"{job_id}\tOK\n"
    assert bob.status(job_id) == "Canceled"
    assert wait_until_gone([pgid]) == []
    assert bob.cancel(job_id) == f"{job_id}\tWRONG_STATE\n"
    log = bob.log(job_id)
    assert log is not None and "started" in log


def test_cancel_results(portal: PortalStandin, bob: RawClient) -> None:
    portal.set_timings(queued=0, running=0)
    [done] = bob.submit_ids()
    portal.wait_for_state(done, "Finished")
    portal.set_timings(queued=30)
    [queued, mine] = bob.submit_ids("a\nb")
    alice = RawClient(portal.url)
    alice.login("alice", "alice-pw")
    assert alice.cancel(mine) == f"{mine}\tWRONG_USER.\n"
    answer = bob.cancel(done, queued, 999)
    assert answer == f"{done}\tWRONG_STATE\n{queued}\tOK\n999\tNOT_FOUND\n"
    assert bob.status(queued) == "Canceled"
    assert bob.status(mine) == "Queued"
    call = portal.calls("cancel.php")[-1]
    assert call["fields"][f"c{queued}"] == str(queued)
    assert call["fields"]["hpcfunc"] == "cancel"


def test_a_slow_cancel_shows_canceling_until_it_answers(
    portal: PortalStandin, bob: RawClient
) -> None:
    portal.set_timings(queued=30, cancel=1.0)
    [job_id] = bob.submit_ids()
    answers: list[str] = []
    caller = threading.Thread(target=lambda: answers.append(bob.cancel(job_id)))
    started = time.monotonic()
    caller.start()
    portal.wait_for_state(job_id, "Canceled")
    assert RawClient.status(bob, job_id) == "Canceling"
    [row] = bob.list_jobs().splitlines()
    assert row.split("\t")[2] == "Canceling"
    caller.join(10)
    assert answers == [f"{job_id}\tOK\n"]
    assert time.monotonic() - started >= 1.0
    assert bob.status(job_id) == "Canceled"
    # A second cancel of the same job is refused as the real portal does.
    assert bob.cancel(job_id) == f"{job_id}\tWRONG_STATE\n"


def test_cancel_strict_fields(portal: PortalStandin, bob: RawClient) -> None:
    [job_id] = bob.submit_ids()
    bad = {"cluster": b64(HEAD), "hpcfunc": b64("cancel"), f"c{job_id}": b64(str(job_id))}
    status, _ = bob.request("POST", "cancel.php", bad)
    assert status == 400
    status, _ = bob.request("POST", "cancel.php", {"cluster": b64(HEAD), "hpcfunc": "cancel"})
    assert status == 400


# -- sessions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["401", "403", "login-page"])
def test_session_expires_after_ttl(
    bob_password: str, portal_config: dict[str, Any], mode: str
) -> None:
    config = {**portal_config, "session_ttl": 0.3, "modes": {"sessions": mode}}
    with running_standin(config) as standin:
        client = RawClient(standin.url)
        client.login("bob", bob_password)
        assert client.submit_ids()
        time.sleep(0.5)  # the lapse itself is what is tested: let the TTL pass
        status, answer = client.submit_status()
        assert not SUBMIT_RE.search(answer)
        if mode == "login-page":
            assert status == 200 and 'name="us"' in answer and 'name="pw"' in answer
            assert client.head_nodes() == []
        else:
            assert status == int(mode)
            assert client.head_nodes_status() == int(mode)
        assert standin.calls("submit_1.php")[-1]["outcome"] == "not-logged-in"
        client.login("bob", bob_password)
        assert client.submit_ids()


def test_expire_sessions_now(bob_password: str, portal: PortalStandin, bob: RawClient) -> None:
    [job_id] = bob.submit_ids()
    assert control(portal, "expire-sessions", {}) == {"expired": 1}
    assert bob.submit_status()[0] == 403
    assert bob.head_nodes_status() == 403
    cancel = {"cluster": b64(HEAD), "hpcfunc": b64("cancel"), f"c{job_id}": str(job_id)}
    log = {"cluster": b64(HEAD), "hpcfunc": "showfail", "id": str(job_id)}
    listing = {"user": b64("bob"), "scheduler": b64(HEAD), "state": b64("*"), "jobs": b64("-1")}
    nodes = {"cluster": b64(HEAD), "hpcfunc": "shownodes", "cluster_no": "1"}
    for path, fields in [
        ("cancel.php", cancel),
        ("showjobfail.php", log),
        ("_listalljobs.php", listing),
        ("shownodes.php", nodes),
    ]:
        assert bob.request("POST", path, fields)[0] == 403, path
    assert bob.get(f"api/v1/get_job_status/?scheduler={HEAD}&jobid={job_id}")[0] == 403
    assert portal.job(job_id)["state"] != "Canceled"
    bob.login("bob", bob_password)
    assert portal.expire_sessions() == 1
    assert bob.head_nodes_status() == 403


def test_older_portal_answers_a_lapsed_session_with_the_login_page(
    bob_password: str, portal_config: dict[str, Any]
) -> None:
    with running_standin({**portal_config, "modes": {"sessions": "login-page"}}) as standin:
        bob = RawClient(standin.url)
        bob.login("bob", bob_password)
        [job_id] = bob.submit_ids()
        standin.expire_sessions()
        assert not SUBMIT_RE.search(bob.submit())
        assert bob.head_nodes() == []
        assert "Canceled" not in bob.cancel(job_id)
        assert bob.log(job_id) is None
        assert "loginform" in bob.list_jobs()
        status, text = bob.get(f"api/v1/get_job_status/?scheduler={HEAD}&jobid={job_id}")
        assert status == 200 and "loginform" in text


# -- faults ----------------------------------------------------------------------------------------


def test_fault_500(portal: PortalStandin, bob: RawClient) -> None:
    portal.add_fault("submit_1.php", "500")
    status, _ = bob.request("POST", "submit_1.php", bob.submit_fields("x"))
    assert status == 500
    assert portal.jobs() == []
    assert bob.submit_ids() == [497979]
    assert [c["fault"] for c in portal.calls("submit_1.php")] == ["500", None]


def test_fault_garbage(portal: PortalStandin, bob: RawClient) -> None:
    control(portal, "faults", {"path": "_listheadnodes.php", "kind": "garbage", "count": 2})
    for _ in range(2):
        status, payload = bob.request("POST", "_listheadnodes.php", {"user": b64("")})
        assert status == 200
        assert payload != f"{HEAD}\n".encode()
    assert bob.head_nodes() == [HEAD]


def test_fault_drop(portal: PortalStandin, bob: RawClient) -> None:
    portal.add_fault("submit_1.php", "drop")
    with pytest.raises(http.client.RemoteDisconnected):
        bob.request("POST", "submit_1.php", bob.submit_fields("x"))
    assert portal.jobs() == []
    # after=True: the job is submitted but its answer is lost.
    portal.add_fault("submit_1.php", "drop", after=True)
    with pytest.raises(http.client.RemoteDisconnected):
        bob.request("POST", "submit_1.php", bob.submit_fields("x"))
    assert [job["id"] for job in portal.jobs()] == [497979]
    assert bob.submit_ids() == [497980]


def test_fault_slow(bob_password: str, portal: PortalStandin, bob: RawClient) -> None:
    portal.add_fault("index.php", "slow", delay=0.4)
    started = time.monotonic()
    page = bob.login("bob", bob_password)
    assert time.monotonic() - started >= 0.4
    assert "Logged in" in page
    portal.add_fault("*", "slow", delay=1.0)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        bob.request("POST", "_listheadnodes.php", {"user": b64("")}, timeout=0.2)
    assert portal.faults() == []


def test_fault_control_validation(portal: PortalStandin) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        control(portal, "faults", {"path": "index.php", "kind": "explode"})
    assert info.value.code == 400
    with pytest.raises(ValueError):
        portal.add_fault("index.php", "slow")


# -- listings and status ---------------------------------------------------------------


def test_list_jobs_format(portal: PortalStandin, bob: RawClient) -> None:
    portal.set_timings(queued=0, running=0)
    [done] = bob.submit_ids(jn="first", rc="4")
    portal.wait_for_state(done, "Finished")
    portal.set_timings(queued=30)
    [waiting] = bob.submit_ids(jn="second", template="Testing", rc="1", rt="Nodes")
    lines = bob.list_jobs().splitlines()
    rows = [line.split("\t") for line in lines]
    assert all(len(row) == 9 for row in rows)
    assert [row[0] for row in rows] == [str(waiting), str(done)]
    second, first = rows
    assert first[1:5] == ["first", "Finished", "4 cores", "DIDE\\bob"]
    assert all(TIME_RE.match(value) for value in first[5:8])
    assert first[8] == "AllNodes"
    assert second[1:5] == ["second", "Queued", "1 node", "DIDE\\bob"]
    # Start, submit, end: a queued job has only its submit time.
    assert second[5] == "" and TIME_RE.match(second[6]) and second[7] == ""
    assert second[8] == "Testing"
    job = portal.job(done)
    assert first[5:8] == [
        time.strftime("%Y%m%d%H%M%S", time.localtime(job[key]))
        for key in ("start_time", "submit_time", "end_time")
    ]
    assert [r.split("\t")[0] for r in bob.list_jobs(state="Finished").splitlines()] == [str(done)]
    assert len(bob.list_jobs(jobs="1").splitlines()) == 1
    assert bob.list_jobs(user="alice") == ""
    status, _ = bob.request(
        "POST",
        "_listalljobs.php",
        {"user": b64("DIDE\\bob"), "scheduler": b64(HEAD), "state": b64("*"), "jobs": b64("-1")},
    )
    assert status == 400


def test_listing_times_in_the_order_first_served(
    bob_password: str, portal_config: dict[str, Any]
) -> None:
    with running_standin(
        {**portal_config, "modes": {"listing_times": "start,end,submit"}}
    ) as standin:
        standin.set_timings(queued=30)
        bob = RawClient(standin.url)
        bob.login("bob", bob_password)
        [job_id] = bob.submit_ids()
        [row] = [line.split("\t") for line in bob.list_jobs().splitlines()]
        assert row[0] == str(job_id)
        assert row[5:7] == ["", ""] and TIME_RE.match(row[7])


def test_passing_states_are_shown_before_queued_and_after_the_end(
    portal: PortalStandin, bob: RawClient
) -> None:
    portal.set_timings(transient=0.4, queued=0, running=0)
    [job_id] = bob.submit_ids()
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while not seen or seen[-1] != "Finished":
        state = bob.status(job_id)
        if not seen or seen[-1] != state:
            seen.append(state)
        assert time.monotonic() < deadline, seen
        time.sleep(0.01)
    assert seen[:2] == ["Submitted", "Validating"]
    assert seen[-2:] == ["Finishing", "Finished"]
    assert portal.job(job_id)["state"] == "Finished"
    portal.set_timings(queued=30)
    [queued] = bob.submit_ids()
    [row] = [r for r in bob.list_jobs().splitlines() if r.startswith(str(queued))]
    assert row.split("\t")[2] == "Submitted"
    assert [r.split("\t")[0] for r in bob.list_jobs(state="Submitted").splitlines()] == [
        str(queued)
    ]


def test_job_status_strictness(portal: PortalStandin, bob: RawClient) -> None:
    [job_id] = bob.submit_ids()
    assert bob.status(job_id) in ("Queued", "Running", "Finished")
    assert bob.get(f"api/v1/get_job_status/?scheduler=other&jobid={job_id}")[0] == 400
    assert bob.get(f"api/v1/get_job_status/?jobid={job_id}")[0] == 400
    assert bob.get(f"api/v1/get_job_status?scheduler={HEAD}&jobid={job_id}")[0] == 404
    assert bob.get(f"api/v1/get_job_status/?scheduler={HEAD}&jobid=1")[0] == 404


def test_showjobfail_unknown_job_and_bad_fields(bob: RawClient) -> None:
    assert bob.log(123) is None
    status, _ = bob.request(
        "POST", "showjobfail.php", {"cluster": b64(HEAD), "hpcfunc": b64("showfail"), "id": "1"}
    )
    assert status == 400
    status, _ = bob.request(
        "POST", "showjobfail.php", {"cluster": b64(HEAD), "hpcfunc": "showfail", "id": b64("1")}
    )
    assert status == 400


NODE_ROW = re.compile(r"^(\S+) +- (\d+) +(\S+)(?: +(\d+) +(\d+) +(.*))?$")


def test_shownodes_table_as_hpc_pack_prints_it(
    portal_config: dict[str, Any], bob_password: str, mounts: dict[str, Path]
) -> None:
    with running_standin({**portal_config, "offline_nodes": ["wpia-004"]}) as standin:
        bob = RawClient(standin.url)
        bob.login("bob", bob_password)
        script = write_task(mounts, "sleep 30\n")
        [job_id] = bob.submit_ids(f"bash {script}", template="LinuxNodes", rc="2")
        standin.wait_for_state(job_id, "Running")
        fields = {"cluster": b64(HEAD), "hpcfunc": "shownodes", "cluster_no": "1"}
        lines = bob.post("shownodes.php", fields).splitlines()
        assert lines[0].split() == [
            "Node",
            "Processor",
            "State",
            "Job",
            "ID",
            "Task",
            "ID",
            "CommandLine",
        ]
        rows = [NODE_ROW.match(line) for line in lines[1:]]
        assert all(rows), [line for line, row in zip(lines[1:], rows, strict=True) if not row]
        by_node: dict[str, list[str]] = {}
        for row in rows:
            assert row is not None
            by_node.setdefault(row[1], []).append(row[3])
        assert next(iter(by_node)) == "WPIA-HN"  # the head node's own rows come first
        assert set(by_node) == {
            "WPIA-HN",
            *(f"WPIA-00{i}" for i in range(1, 5)),
            "WPIA-081",
            "WPIA-082",
        }
        assert len(by_node["WPIA-001"]) == 32
        assert by_node["WPIA-081"].count("TaskRunning") == 2
        assert set(by_node["WPIA-004"]) == {"Offline"}
        assert set(by_node["WPIA-002"]) == {"Idle"}
        busy = [row for row in rows if row is not None and row[3] == "TaskRunning"]
        assert {(row[4], row[5], row[6]) for row in busy} == {(str(job_id), "1", f"bash {script}")}
        wrong = {**fields, "cluster_no": "0"}
        assert bob.request("POST", "shownodes.php", wrong)[0] == 400
        assert bob.cancel(job_id) == f"{job_id}\tOK\n"


def test_shownodes_table_as_first_served(
    portal_config: dict[str, Any], bob_password: str, mounts: dict[str, Path]
) -> None:
    with running_standin({**portal_config, "modes": {"node_table": "legacy"}}) as standin:
        bob = RawClient(standin.url)
        bob.login("bob", bob_password)
        script = write_task(mounts, "sleep 30\n")
        [job_id] = bob.submit_ids(f"bash {script}", template="LinuxNodes", rc="2")
        standin.wait_for_state(job_id, "Running")
        table = bob.post(
            "shownodes.php", {"cluster": b64(HEAD), "hpcfunc": "shownodes", "cluster_no": "0"}
        )
        lines = table.splitlines()
        assert lines[0].split()[:3] == ["NODE", "PROCESSOR", "STATE"]
        busy = [line for line in lines if " Busy " in line]
        assert len(busy) == 2
        assert all(line.startswith("wpia-081") and str(job_id) in line for line in busy)
        assert any(line.startswith("wpia-001") and "Idle" in line for line in lines)
        assert not any(line.lower().startswith(HEAD) for line in lines)
        assert bob.cancel(job_id) == f"{job_id}\tOK\n"


def test_cluster_info_and_software_need_no_login(portal: PortalStandin) -> None:
    client = RawClient(portal.url)
    status, text = client.get(f"api/v1/cluster_info/{HEAD}/windows/")
    assert status == 200
    windows = json.loads(text)
    assert windows["name"] == HEAD
    assert windows["node_os"] == "windows"
    assert windows["max_cores"] == 32 and windows["max_ram"] == 512
    assert windows["queues"] == ["AllNodes", "Testing", "BuildQueue"]
    assert windows["default_queue"] == "AllNodes"
    assert windows["build_queue"] == "BuildQueue"
    assert windows["testing_queue"] == "Testing"
    assert isinstance(windows["redis_url"], str)
    assert all(re.fullmatch(r"wpia-\d{3}", node) for node in windows["nodes"])
    linux = json.loads(client.get(f"api/v1/cluster_info/{HEAD}/linux/")[1])
    assert linux["node_os"] == "linux"
    assert linux["queues"] == ["LinuxNodes"]
    assert client.get(f"api/v1/cluster_info/{HEAD}/linux")[0] == 404
    assert client.get("api/v1/cluster_info/other/linux/")[0] == 404

    status, text = client.get("api/v1/cluster_software/")
    assert status == 200
    software = json.loads(text)
    assert set(software) == {"windows", "linux"}
    assert all({"name", "version"} <= set(entry) for entry in software["windows"])
    assert all("module" in entry for entry in software["linux"])
    assert client.cookie is None


def test_software_under_the_older_keys(portal_config: dict[str, Any]) -> None:
    config = {**portal_config, "modes": {"software_keys": "software/linuxsoftware"}}
    with running_standin(config) as standin:
        software = json.loads(RawClient(standin.url).get("api/v1/cluster_software/")[1])
        assert set(software) == {"software", "linuxsoftware"}
        assert all("module" in entry for entry in software["linuxsoftware"])


def test_cluster_info_configurable(portal_config: dict[str, Any]) -> None:
    config = {
        **portal_config,
        "cluster": {"linux": {"nodes": ["wpia-201"], "redis_url": "redis.example"}},
        "software": {
            "software": [],
            "linuxsoftware": [{"name": "x", "version": "1", "module": "X"}],
        },
    }
    with PortalStandin(config) as standin:
        client = RawClient(standin.url)
        linux = json.loads(client.get(f"api/v1/cluster_info/{HEAD}/linux/")[1])
        assert linux["nodes"] == ["wpia-201"] and linux["redis_url"] == "redis.example"
        assert linux["max_cores"] == 32
        assert json.loads(client.get("api/v1/cluster_software/")[1])["windows"] == []


# -- control and lifecycle -------------------------------------------------------------


def test_calls_endpoint_and_reset(bob_password: str, portal: PortalStandin, bob: RawClient) -> None:
    bob.submit_ids()
    calls = control(portal, "calls")
    assert [c["path"] for c in calls] == ["index.php", "_listheadnodes.php", "submit_1.php"]
    assert calls[2]["fields"]["template"] == "AllNodes"
    assert control(portal, "calls?path=index.php")[0]["fields"]["us"] == "bob"
    assert bob_password not in json.dumps(calls)
    assert [j["id"] for j in control(portal, "jobs")] == [497979]
    control(portal, "reset", {})
    assert portal.calls() == [] and portal.jobs() == []
    assert bob.head_nodes_status() == 403  # sessions are gone too
    bob.login("bob", bob_password)
    assert bob.submit_ids() == [497979]


def test_close_kills_running_jobs(
    bob_password: str, portal_config: dict[str, Any], mounts: dict[str, Path]
) -> None:
    script = write_task(mounts, "sleep 30 &\nsleep 30\n")
    with PortalStandin(portal_config) as standin:
        client = RawClient(standin.url)
        client.login("bob", bob_password)
        [job_id] = client.submit_ids(f"bash {script}", template="LinuxNodes")
        standin.wait_for_state(job_id, "Running")
        pgid = standin.job(job_id)["pgid"]
        assert live_processes_in_groups([pgid])
    assert wait_until_gone([pgid]) == []
    assert standin.job(job_id)["state"] == "Canceled"


def test_serve_by_hand(
    standin_dir: Path,
    bob_password: str,
    tmp_path: Path,
    portal_config: dict[str, Any],
    mounts: dict[str, Path],
) -> None:
    config_file = tmp_path / "portal.json"
    config_file.write_text(json.dumps(portal_config))
    script = write_task(mounts, "sleep 30\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(standin_dir / "serve.py"),
            "--config",
            str(config_file),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/hpc/", url), url
        client = RawClient(url)
        client.login("bob", bob_password)
        [job_id] = client.submit_ids(f"bash {script}", template="LinuxNodes")
        deadline = time.monotonic() + 10
        while client.status(job_id) != "Running" and time.monotonic() < deadline:
            time.sleep(0.02)
        jobs_url = url.replace("/hpc/", "/_standin/jobs")
        with urllib.request.urlopen(jobs_url, timeout=10) as resp:
            pgid = json.loads(resp.read())[0]["pgid"]
        assert live_processes_in_groups([pgid])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert wait_until_gone([pgid]) == []
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
