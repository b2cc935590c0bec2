"""A task that outruns its max runtime is stopped by Slurm and ends as timed out."""

from __future__ import annotations

import time

import pytest
from slurm.helpers import User

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_task_over_its_max_runtime_fails_as_timed_out(slurm: User) -> None:
    task_id = slurm.create("--max-runtime", "1", "--", "sleep", "600")
    slurm.wait_running(task_id)
    started = time.monotonic()
    # Slurm checks limits every 30 s, so a 1-minute limit ends the job 60-90 s in.
    assert slurm.wait(task_id, timeout=180) == "failure"
    took = time.monotonic() - started
    assert 50 < took < 150
    details = slurm.info(task_id)
    assert details["reason"] == "timed out"
    assert "DUE TO TIME LIMIT" in slurm.outer_log(task_id)
