"""Automatic retries on the real cluster: a task that times out retries itself with more time."""

from __future__ import annotations

import pytest
from slurm.helpers import User

pytestmark = pytest.mark.slurm


def test_a_timed_out_task_retries_with_three_times_the_runtime(slurm: User) -> None:
    first = slurm.create(
        "--max-runtime",
        "1",
        "--retries",
        "1",
        "--retry-on",
        "timeout",
        "--retry-scale",
        "runtime=3",
        "--",
        "sh",
        "-c",
        "sleep 90; echo done",
    )
    # the wait follows the chain: it ends only when the retry has ended
    assert slurm.wait(first, timeout=360) == "success"
    info = slurm.info(first)
    assert [(a["status"], a["reason"]) for a in info["attempts"]] == [
        ("failure", "timed out"),
        ("success", None),
    ]
    retry = info["attempts"][1]["id"]
    assert slurm.info(retry)["data"]["resources"]["max_runtime"] == 3
    assert slurm.cli("task", "log", first).stdout == "done\n"
    shown = slurm.cli("task", "info", first).stdout
    assert f"failure (timed out) → retried as {retry}: success" in shown
