"""A user's tasks run on the real cluster, and what happened is visible from hipercow."""

from __future__ import annotations

import json

import pytest
from slurm.helpers import User

pytestmark = pytest.mark.slurm


def test_shell_task_runs_on_a_node_and_succeeds(slurm: User) -> None:
    task_id = slurm.create("--", "sh", "-c", 'echo "hello from $SLURMD_NODENAME"')
    assert slurm.wait(task_id, timeout=60) == "success"
    assert slurm.status(task_id) == "success"
    assert "hello from n" in slurm.cli("task", "log", task_id).stdout
    details = slurm.info(task_id)
    assert details["driver"] == "slurm"
    assert details["job_id"].isdigit()
    assert details["exit_code"] == 0
    outer = slurm.outer_log(task_id)
    assert f"Slurm job {details['job_id']} on node n" in outer
    assert "runner exited with code 0" in outer


def test_failing_task_fails_with_its_exit_code(slurm: User) -> None:
    task_id = slurm.create("--", "sh", "-c", "echo about to fail; exit 3")
    waited = slurm.cli("task", "wait", task_id, "--timeout", "60", check=False)
    assert waited.code == 1
    assert slurm.status(task_id) == "failure"
    assert slurm.info(task_id)["exit_code"] == 3
    assert "about to fail" in slurm.cli("task", "log", task_id).stdout
    assert "runner exited with code 3" in slurm.outer_log(task_id)


def test_many_tasks_at_once_become_one_array(slurm: User) -> None:
    from hipercow_core.tasks import TaskSpec, create_tasks

    specs = [TaskSpec(command=("sh", "-c", f"echo task {i}")) for i in range(5)]
    ids = create_tasks(slurm.root, specs, cwd=slurm.root.project)
    jobs = [slurm.info(task_id)["job_id"] for task_id in ids]
    assert len({job.split("_")[0] for job in jobs}) == 1
    assert sorted(jobs) == sorted(f"{jobs[0].split('_')[0]}_{i}" for i in range(5))
    for i, task_id in enumerate(ids):
        assert slurm.wait(task_id, timeout=120) == "success"
        assert f"task {i}" in slurm.cli("task", "log", task_id).stdout
        assert f"Slurm job {jobs[i]} " in slurm.outer_log(task_id)


def test_cluster_info_lists_the_nodes_and_partitions(slurm: User) -> None:
    text = slurm.cli("cluster", "info").stdout
    for name in ("n1", "n2", "n3", "main", "short"):
        assert name in text
    info = json.loads(slurm.cli("cluster", "info", "--json").stdout)
    assert {n["name"] for n in info["nodes"]} == {"n1", "n2", "n3"}
    assert all(n["cores"] == 2 and n["memory"] == 4000 for n in info["nodes"])
    queues = {q["name"]: q for q in info["queues"]}
    assert set(queues) == {"main", "short"}
    assert info["default_queue"] == "main"
    assert queues["short"]["max_runtime"] == 10
    assert queues["short"]["nodes"] == ["n1"]


def test_resources_beyond_the_cluster_are_refused_at_creation(slurm: User) -> None:
    result = slurm.cli("task", "create", "--cores", "3", "--", "true", check=False)
    assert result.code != 0
    assert "--cores 3 is more than the largest node" in result.stderr
    result = slurm.cli("task", "create", "--queue", "nope", "--", "true", check=False)
    assert "--queue nope: no such queue" in result.stderr
    assert slurm.cli("task", "list").stdout.strip() == ""


def test_a_tasks_name_is_its_slurm_job_name(slurm: User) -> None:
    from slurm.helpers import scontrol_job

    task_id = slurm.create("--name", "fit ols/1", "--hold-until", "1h", "--", "true")
    job_id = slurm.info(task_id)["job_id"]
    assert scontrol_job(job_id)["JobName"].startswith("fit_ols_1-")
    slurm.cli("task", "cancel", task_id)


def test_hello_passes_on_slurm(slurm: User) -> None:
    said = slurm.cli("hello", "--cores", "2", "--timeout", "120", check=False)
    assert said.code == 0, said.output
    lines = said.stdout.splitlines()
    assert lines[0].endswith("on driver slurm")
    assert all(line.startswith("✔") for line in lines[1:]), said.stdout
    [node] = [line for line in lines[1:] if line.split()[1] == "node"]
    assert node.split()[-1] in {"n1", "n2", "n3"}
    [cores] = [line for line in lines[1:] if line.split()[1] == "cores"]
    assert "2 visible, 2 given, 2 requested" in cores
