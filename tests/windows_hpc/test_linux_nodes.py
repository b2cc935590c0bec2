"""Tasks on the Linux nodes, end to end: the stand-in really runs their scripts."""

from __future__ import annotations

import json

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import Configure, PortalCli, calls, logins

from hipercow_core.root import Root
from hipercow_testing import wait_until, write_fasta
from hipercow_windows_hpc.credentials import Credentials

pytestmark = pytest.mark.portal


def test_a_task_runs_on_a_linux_node_and_both_logs_show(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure()
    task_id = hpc(
        "task", "create", "--", "sh", "-c", "echo hello from a node; echo oops >&2"
    ).stdout.strip()
    waited = hpc("task", "wait", task_id, "--timeout", "60", check=False)
    assert waited.code == 0, waited.output
    assert hpc("task", "status", task_id).stdout.strip() == "success"
    assert hpc("task", "log", task_id).stdout == "hello from a node\noops\n"
    outer = hpc("task", "log", "--outer", task_id).stdout
    assert f"hipercow: task {task_id} on" in outer
    assert "hipercow: the runner exited with code 0" in outer
    info = json.loads(hpc("task", "info", "--json", task_id).stdout)
    [job] = portal.jobs()
    assert info["job_id"] == str(job["id"]) and job["state"] == "Finished"
    assert job["template"] == "LinuxNodes"
    assert job["workdir"] == "/mnt/cluster/project"
    assert job["command"].startswith("bash /mnt/cluster/project/hipercow/tasks/")


def test_cancel_stops_a_running_task(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
) -> None:
    configure()
    task_id = hpc("task", "create", "--", "sleep", "60").stdout.strip()
    wait_until((project.task_dir(task_id) / "running.json").exists, timeout=30)
    done = hpc("task", "cancel", task_id)
    assert done.stdout.strip() == f"{task_id}  cancelled"
    assert hpc("task", "status", task_id).stdout.strip() == "cancelled"
    [job] = portal.jobs()
    assert job["state"] == "Canceled"
    again = hpc("task", "cancel", task_id)
    assert "not cancelled" in again.stdout


def test_a_job_that_fails_before_the_runner_starts_is_a_failure_with_the_portals_log(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(linux_runner="/nonexistent/bin/hipercow-task-run")
    task_id = hpc("task", "create", "--", "echo", "never").stdout.strip()
    waited = hpc("task", "wait", task_id, "--timeout", "60", check=False)
    assert waited.code == 1
    assert hpc("task", "status", task_id).stdout.strip() == "failure"
    info = json.loads(hpc("task", "info", "--json", task_id).stdout)
    assert info["reason"] == "job ended before the task started"
    assert f"the portal reports job {info['job_id']} Failed" in info["note"]
    outer = hpc("task", "log", "--outer", task_id).stdout
    assert "/nonexistent/bin/hipercow-task-run: No such file or directory" in outer
    assert f"hipercow: task {task_id} did not succeed" in outer
    assert "No log yet" in hpc("task", "log", task_id).stderr


def test_waiting_polls_with_one_login_per_command(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure()
    task_id = hpc("task", "create", "--", "sleep", "4").stdout.strip()
    before, polls = len(logins(portal)), len(calls(portal, "_listalljobs.php"))
    assert hpc("task", "wait", task_id, "--timeout", "60").code == 0
    assert len(calls(portal, "_listalljobs.php")) - polls >= 3, "it polled a few times"
    assert len(logins(portal)) == before + 1


def test_python_tasks_and_an_environment_built_on_the_build_queue(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure()
    task_id = hpc("task", "create", "--python", "6 * 7").stdout.strip()
    assert hpc("task", "wait", task_id, "--timeout", "60", check=False).code == 0
    assert hpc("task", "result", task_id).stdout.strip() == "42"

    hpc("environment", "new", "default")
    hpc("environment", "provision", "default", "six==1.16.0", timeout=300)
    build_jobs = [job for job in portal.jobs() if job["state"] == "Finished"]
    assert {job["template"] for job in build_jobs} == {"LinuxNodes"}

    uses_six = hpc("task", "create", "--python", "import six; six.__version__").stdout.strip()
    assert hpc("task", "wait", uses_six, "--timeout", "60", check=False).code == 0
    assert hpc("task", "result", uses_six).stdout.strip() == "1.16.0"


def test_a_conda_environment_built_on_a_linux_node(
    hpc: PortalCli,
    configure: Configure,
    project: Root,
    portal: PortalStandin,
    logged_in: Credentials,
    conda_channel: str,
) -> None:
    """Provisioned by a job on the Linux nodes from a local channel; tasks there use it."""
    configure()
    hpc("environment", "new", "bio", "--engine", "conda", "--channel", conda_channel)
    done = hpc(
        "environment", "provision", "bio", "mini-align=2.0", "seqnames", "python", timeout=300
    )
    assert "Provisioned 'bio'" in done.stdout
    assert {job["template"] for job in portal.jobs()} == {"LinuxNodes"}

    write_fasta(project.project)
    aligned = hpc(
        "task", "create", "--environment", "bio", "--", "mini-align", "ref.fa", "reads.fa"
    )
    task_id = aligned.stdout.strip()
    assert hpc("task", "wait", task_id, "--timeout", "60", check=False).code == 0
    assert hpc("task", "log", task_id).stdout == "r1\tchr1\t7\nr2\t*\t0\n"
    code = "import seqnames; seqnames.__version__"
    imports = hpc("task", "create", "--environment", "bio", "--python", code).stdout.strip()
    assert hpc("task", "wait", imports, "--timeout", "60", check=False).code == 0
    assert hpc("task", "result", imports).stdout.strip() == "0.2"


def test_hello_passes_on_the_portals_linux_nodes(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure()
    said = hpc("hello", "--timeout", "120", check=False)
    assert said.code == 0, said.output
    lines = said.stdout.splitlines()
    assert lines[0].endswith("on driver windows-hpc")
    assert all(line.startswith("✔") for line in lines[1:]), said.stdout
    [root] = [line for line in lines[1:] if line.split()[1] == "root"]
    assert "on the node" in root


def test_configuration_shows_the_shares_and_no_password(
    hpc: PortalCli, configure: Configure, logged_in: Credentials
) -> None:
    configure()
    shown = hpc("configuration").stdout
    assert "[driver windows-hpc]" in shown
    assert "project on the nodes  /mnt/cluster/project" in shown
    assert [line for line in shown.splitlines() if line.strip().startswith("share ")]
    assert logged_in.password not in shown
