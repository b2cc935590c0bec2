"""When a node dies or the controller is away, tasks still end up with a clear status.

These tests disturb the cluster, so they hold it exclusively (the `disruptive`
fixture) and share an xdist group, and they always put the cluster back.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from slurm.helpers import User, cluster_tool, slurmd_pid

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.xdist_group("slurm-disruptive"),
]


def test_a_crashed_node_ends_its_task_as_failure(disruptive: User) -> None:
    # Slurm requeues a crashed node's jobs (JobRequeue=1, as on real clusters) unless
    # they ask not to be; this user does.
    disruptive.cli("driver", "configure", "slurm", "sbatch_args=--no-requeue")
    task_id = disruptive.create("--node", "n2", "--", "sleep", "600")
    disruptive.wait_running(task_id)
    os.kill(slurmd_pid("n2"), signal.SIGKILL)
    try:
        started = time.monotonic()
        # SlurmdTimeout is 20 s here: the node is declared down and its job NODE_FAIL.
        assert disruptive.wait(task_id, timeout=150) == "failure"
        assert time.monotonic() - started < 150
        assert disruptive.info(task_id)["reason"] == "node failure"
        assert "NODE_FAIL" in disruptive.outer_log(task_id)
    finally:
        cluster_tool("restart-node", "n2")


def test_with_the_controller_stopped_creation_fails_clearly_and_submit_works_later(
    disruptive: User,
) -> None:
    disruptive.cli("cluster", "info")  # the cluster is known to this machine
    sleeper = disruptive.create("--", "sleep", "300")
    disruptive.wait_running(sleeper)
    cluster_tool("stop-controller")
    try:
        # What the files say still answers `status` while Slurm cannot.
        assert disruptive.status(sleeper) == "running"
        started = time.monotonic()
        result = disruptive.cli("task", "create", "--", "echo", "hello", check=False, timeout=60)
        took = time.monotonic() - started
        assert result.code != 0
        assert took < 30
        assert "cannot reach the Slurm controller" in result.stderr
        assert "hipercow task submit" in result.stderr
        listed = disruptive.cli("task", "list", "--json").stdout
        tasks = json.loads(listed)
        assert sorted(t["status"] for t in tasks) == ["created", "running"]
    finally:
        cluster_tool("start-controller")
    task_id = next(t["id"] for t in tasks if t["status"] == "created")
    assert "Submitted 1 task" in disruptive.cli("task", "submit").stdout
    assert disruptive.wait(task_id, timeout=120) == "success"
    assert "hello" in disruptive.cli("task", "log", task_id).stdout
    disruptive.cli("task", "cancel", sleeper)
