"""Several shares on the nodes, projects off every share, checks, and secrets kept secret."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import PASSWORD, USER, Configure, PortalCli, calls, secret_forms

from hipercow_core.root import Root
from hipercow_windows_hpc.credentials import Credentials

pytestmark = pytest.mark.portal


def test_two_shares_map_to_distinct_drives_and_the_batch_file_uses_both(
    hpc: PortalCli,
    project: Root,
    share: Path,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("home")
    configure(
        platform="windows", shares=f"{share}=//wpia-hn/hipercow:V,{home}=//qdrive/homes/{USER}:Q"
    )
    shown = json.loads(hpc("windows-hpc", "shares", "--json").stdout)
    assert [(s["drive"], s["remote"], s["linux"]) for s in shown["shares"]] == [
        ("V:", "\\\\wpia-hn\\hipercow", "/mnt/cluster"),
        ("Q:", f"\\\\qdrive\\homes\\{USER}", f"/mnt/homes/{USER}"),
    ]
    assert shown["project"]["windows"] == "V:\\project"
    task_id = hpc("task", "create", "--", "hostname").stdout.strip()
    batch = (project.task_dir(task_id) / "run.bat").read_text()
    assert 'NET USE V: "\\\\wpia-hn\\hipercow" /PERSISTENT:NO /Y' in batch
    assert f'NET USE Q: "\\\\qdrive\\homes\\{USER}" /PERSISTENT:NO /Y' in batch
    assert "NET USE V: /DELETE /Y" in batch and "NET USE Q: /DELETE /Y" in batch
    assert 'CD /D "V:\\project"' in batch
    [job] = portal.jobs()
    assert job["command"].startswith('call "\\\\wpia-hn\\hipercow\\project\\hipercow\\tasks\\')
    assert portal.wait_for_state(job["id"], ("Finished", "Failed")) == "Finished", job["log"]


def test_a_project_outside_every_share_is_a_clear_error(
    hpc: PortalCli,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    configure(shares=f"{elsewhere}=//wpia-hn/hipercow:V")
    done = hpc("task", "create", "--", "hostname", check=False)
    assert done.code == 1
    first, hint = done.stderr.splitlines()
    assert (
        first.startswith("Error: task ")
        and " was not submitted: '" in first
        and "is not on a network share that the cluster can see" in first
    )
    assert "shares=/local/mount=//server/share:X" in hint and "stayed 'created'" in hint
    assert calls(portal, "submit_1.php") == []
    assert "created" in hpc("task", "list").stdout
    checked = hpc("windows-hpc", "check", check=False)
    assert checked.code == 1
    assert "✖ project share: '" in checked.stdout


def test_check_reports_each_part(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure()
    done = hpc("windows-hpc", "check")
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "✔ credentials",
        "✔ portal",
        "✔ login",
        "✔ project share",
        "✔ versions",
    ]
    assert f"logged in as '{USER}'" in lines[2]
    assert "/mnt/cluster/project on Linux nodes" in lines[3]
    assert "Python 3.11 on the linux nodes (module Python/3.11.9-GCCcore-13.3.0)" in lines[4]
    configure(python_version="3.9")
    bad = hpc("windows-hpc", "check", "--json", check=False)
    assert bad.code == 1
    versions = json.loads(bad.stdout)[-1]
    assert versions["ok"] is False and "Python 3.9 is not on the linux nodes" in versions["detail"]
    assert "python_version=" in versions["hint"]


def test_cluster_info_comes_from_the_api_with_node_load_and_is_cached(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
) -> None:
    configure(platform="windows")
    info = json.loads(hpc("cluster", "info", "--json").stdout)
    assert info["name"] == "wpia-hn" and info["driver"] == "windows-hpc"
    assert (info["max_cores"], info["max_memory"]) == (32, 512000)
    assert [q["name"] for q in info["queues"]] == ["AllNodes", "Testing", "BuildQueue"]
    assert {n.get("state", "idle") for n in info["nodes"]} == {"idle"}  # the default is omitted
    assert {"name": "python", "version": "3.12.4", "platform": "windows"} in info["software"]
    text = hpc("cluster", "info").stdout
    assert "wpia-hn (windows-hpc driver): up to 32 cores and 512 GB per node" in text
    assert len(calls(portal, "api/v1/cluster_info/wpia-hn/windows/")) == 1, "cached"
    assert len(calls(portal, "shownodes.php")) == 2, "node load is live"
    assert list((project.cache_dir() / "windows-hpc").iterdir())


def test_the_password_is_in_no_file_and_no_log(
    hpc: PortalCli,
    project: Root,
    share: Path,
    configure: Configure,
    portal: PortalStandin,
    keyring_env: dict[str, str],
) -> None:
    configure()
    hpc("-v", "windows-hpc", "authenticate", "set", "-u", f"DIDE\\{USER}", stdin=PASSWORD + "\n")
    hpc("-v", "windows-hpc", "authenticate", "check")
    hpc("-v", "windows-hpc", "check")
    task_id = hpc("-v", "task", "create", "--", "env").stdout.strip()
    hpc("-v", "task", "wait", task_id, "--timeout", "60")
    portal.expire_sessions()
    hpc("-v", "task", "status", task_id)
    hpc("-v", "task", "log", "--outer", task_id)
    hpc("-v", "task", "log", task_id)
    hpc("-v", "cluster", "info")
    hpc("-v", "windows-hpc", "authenticate", "set", "-u", USER, stdin="wrong-password", check=False)
    assert any("portal answer" in output for output in hpc.outputs), "debug logging was on"
    forms = secret_forms(PASSWORD)
    for output in hpc.outputs:
        assert not any(form.decode() in output for form in forms)
    for directory, _, files in os.walk(share):
        for name in files:
            content = (Path(directory) / name).read_bytes()
            assert not any(form in content for form in forms), f"secret in {directory}/{name}"
    assert str(share) not in keyring_env["HIPERCOW_TEST_KEYRING"]
    assert not any(form.decode() in json.dumps(c) for c in portal.calls() for form in forms)
