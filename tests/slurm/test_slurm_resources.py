"""Every resource a task asks for is what Slurm was asked for (as `scontrol show job` shows)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from slurm.helpers import User, scontrol_job

pytestmark = pytest.mark.slurm


def job_of(slurm: User, task_id: str) -> dict[str, str]:
    return scontrol_job(slurm.info(task_id)["job_id"])


def test_every_resource_field_reaches_slurm(slurm: User) -> None:
    # Held for two hours so that nothing runs: only what Slurm was asked is checked.
    first = slurm.create(
        *("--cores", "2", "--memory-per-task", "1G", "--max-runtime", "1h30"),
        *("--hold-until", "2h", "--node", "n3", "--exclusive", "--priority", "low"),
        *("--queue", "main", "--", "true"),
    )
    job = job_of(slurm, first)
    assert job["CPUs/Task"] == "2"
    assert job["MinMemoryCPU"] == "500M"  # 1000 MB over 2 cores
    assert job["TimeLimit"] == "01:30:00"
    assert job["ReqNodeList"] == "n3"
    assert job["OverSubscribe"] == "NO"  # exclusive
    assert job["Nice"] == "100"
    assert job["Partition"] == "main"
    assert job["JobState"] == "PENDING"
    assert job["Reason"] == "BeginTime"
    begin = datetime.fromisoformat(job["EligibleTime"])
    expected = datetime.now() + timedelta(hours=2)
    assert abs((begin - expected).total_seconds()) < 120

    whole = slurm.create(
        *("--cores", "node", "--memory-per-node", "2G", "--queue", "short"),
        *("--hold-until", "2h", "--", "true"),
    )
    job = job_of(slurm, whole)
    assert job["Partition"] == "short"
    assert job["MinMemoryNode"] == "2000M"
    assert job["OverSubscribe"] == "NO"
    assert job["CPUs/Task"] == "2"

    either = slurm.create("--node", "n1", "--node", "n2", "--hold-until", "2h", "--", "true")
    job = job_of(slurm, either)
    assert job["ExcNodeList"] == "n3"  # any one of n1 and n2, not both
    assert job["NumNodes"].startswith("1")

    normal = slurm.create("--hold-until", "2h", "--", "true")
    job = job_of(slurm, normal)
    assert job["Nice"] == "0"
    assert job["OverSubscribe"] == "OK"
    assert job["TimeLimit"] == "UNLIMITED"
