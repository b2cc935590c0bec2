"""On the real cluster, a waiting task says why in words, from the one squeue of the poll."""

from __future__ import annotations

import pytest
from slurm.helpers import User, wait_for

pytestmark = pytest.mark.slurm

BUSY = ("waiting for resources", "waiting for jobs of higher priority")


def test_with_every_slot_busy_a_waiting_task_says_why(slurm: User) -> None:
    # three nodes of two CPUs: four two-core tasks leave the fourth (at least) waiting
    ids = [slurm.create("--cores", "2", "--", "sleep", "120") for _ in range(4)]

    def reasons() -> list[str]:
        return [str(slurm.info(t).get("waiting_reason") or "") for t in ids]

    wait_for(lambda: any(r.startswith(BUSY) for r in reasons()), timeout=90, interval=2)
    waiting = next(t for t, r in zip(ids, reasons(), strict=True) if r.startswith(BUSY))
    shown = slurm.cli("task", "info", waiting).stdout
    [line] = [x for x in shown.splitlines() if x.strip().startswith("waiting ")]
    assert "(Resources)" in line or "(Priority)" in line
    slurm.cli("task", "cancel", *ids)


def test_held_and_dependent_tasks_say_why(slurm: User) -> None:
    held = slurm.create("--hold-until", "2h", "--", "true")
    after = slurm.create("--depends-on", held, "--", "true")
    wait_for(lambda: bool(slurm.info(after).get("waiting_reason")), timeout=60, interval=2)
    assert slurm.info(held)["waiting_reason"] == (
        "held until its start time (--hold-until) (BeginTime)"
    )
    assert slurm.info(after)["waiting_reason"] == (
        "waiting for the tasks it depends on to finish (Dependency)"
    )
    slurm.cli("task", "cancel", held, after)
