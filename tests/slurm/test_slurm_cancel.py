"""Cancelling tasks, from hipercow or behind its back, ends them as `cancelled`."""

from __future__ import annotations

import psutil
import pytest
import sh
from slurm.helpers import User, scontrol_job, wait_for

from hipercow_core.resources import parse_resources
from hipercow_core.tasks import TaskSpec, cancel_tasks, create_tasks

pytestmark = pytest.mark.slurm


def runner_processes(task_id: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if task_id in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def test_cancel_a_pending_task(slurm: User) -> None:
    task_id = slurm.create("--hold-until", "1h", "--", "true")
    job_id = slurm.info(task_id)["job_id"]
    assert scontrol_job(job_id)["JobState"] == "PENDING"
    assert "cancelled" in slurm.cli("task", "cancel", task_id).stdout
    assert slurm.status(task_id) == "cancelled"
    assert scontrol_job(job_id)["JobState"] == "CANCELLED"
    # Cancelling again changes nothing.
    assert "not cancelled" in slurm.cli("task", "cancel", task_id).stdout


def test_cancel_a_running_task(slurm: User) -> None:
    task_id = slurm.create("--", "sleep", "600")
    slurm.wait_running(task_id)
    job_id = slurm.info(task_id)["job_id"]
    assert "cancelled" in slurm.cli("task", "cancel", task_id).stdout
    assert slurm.status(task_id) == "cancelled"
    assert slurm.info(task_id)["reason"] == "cancelled"
    wait_for(lambda: scontrol_job(job_id)["JobState"] == "CANCELLED", timeout=30)
    wait_for(lambda: not runner_processes(task_id), timeout=30)


def test_many_tasks_are_cancelled_together(slurm: User) -> None:
    held = parse_resources(hold_until="1h")
    ids = create_tasks(slurm.root, [TaskSpec(command=("true",), resources=held)] * 4)
    assert cancel_tasks(slurm.root, ids) == dict.fromkeys(ids, True)
    assert {slurm.status(task_id) for task_id in ids} == {"cancelled"}


def test_scancel_outside_hipercow_shows_as_cancelled(slurm: User) -> None:
    task_id = slurm.create("--", "sleep", "600")
    slurm.wait_running(task_id)
    sh.scancel(slurm.info(task_id)["job_id"])
    assert slurm.wait(task_id, timeout=60) == "cancelled"
    assert slurm.status(task_id) == "cancelled"
    assert "CANCELLED" in slurm.outer_log(task_id)
