"""`--after-any` on the real cluster: Slurm's afterany holds the job until the bundle has ended."""

from __future__ import annotations

import json

import pytest
from slurm.helpers import User, scontrol_job

pytestmark = pytest.mark.slurm


def test_an_after_any_task_runs_after_a_bundle_with_a_failure(slurm: User) -> None:
    slurm.cli(
        "bulk",
        "create",
        "--name",
        "sweep",
        "--data",
        "code=0,3",
        "--",
        "sh",
        "-c",
        "sleep 5; exit @code",
    )
    summary = slurm.create("--after-any", "sweep", "--", "sh", "-c", "echo collected")
    job = scontrol_job(slurm.info(summary)["job_id"])
    assert job["Dependency"].startswith("afterany:")
    assert slurm.wait(summary, timeout=120) == "success"
    assert slurm.cli("task", "log", summary).stdout == "collected\n"
    tasks = json.loads(slurm.cli("bundle", "status", "sweep", "--json").stdout)
    assert sorted(t["status"] for t in tasks) == ["failure", "success"]
    ends = [slurm.info(t["id"])["times"]["finished"] for t in tasks]
    assert slurm.info(summary)["times"]["started"] >= max(ends)
