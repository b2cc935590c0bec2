"""Tasks with identical arguments share job arrays no larger than MaxArraySize."""

from __future__ import annotations

import pytest

from hipercow_slurm.arrays import plan_jobs, split_evenly

ONE = ("--cpus-per-task=1",)
TWO = ("--cpus-per-task=2",)


def ids(n: int, prefix: str = "t") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_2500_tasks_need_three_arrays_of_at_most_1001() -> None:
    plans = plan_jobs([(t, ONE) for t in ids(2500)], max_array_size=1001)
    assert len(plans) == 3
    assert all(p.is_array and len(p.task_ids) <= 1001 for p in plans)
    assert [t for p in plans for t in p.task_ids] == ids(2500)


def test_a_group_that_fits_is_one_array() -> None:
    plans = plan_jobs([(t, ONE) for t in ids(1001)], max_array_size=1001)
    assert [len(p.task_ids) for p in plans] == [1001]


def test_different_resources_go_to_different_arrays_in_first_seen_order() -> None:
    tasks = [("a", TWO), ("b", ONE), ("c", TWO), ("d", ONE), ("e", TWO)]
    plans = plan_jobs(tasks, max_array_size=1001)
    assert [(p.args, p.task_ids) for p in plans] == [(TWO, ("a", "c", "e")), (ONE, ("b", "d"))]


def test_a_single_task_is_a_plain_job() -> None:
    (plan,) = plan_jobs([("only", ONE)], max_array_size=1001)
    assert not plan.is_array
    assert plan.task_ids == ("only",)


def test_arrays_disabled_gives_one_job_per_task() -> None:
    plans = plan_jobs([(t, ONE) for t in ids(3)], max_array_size=0)
    assert [p.task_ids for p in plans] == [("t0",), ("t1",), ("t2",)]
    assert not any(p.is_array for p in plans)


@pytest.mark.parametrize(
    ("count", "largest", "sizes"),
    [
        (0, 5, []),
        (5, 5, [5]),
        (6, 5, [3, 3]),
        (2500, 1001, [834, 833, 833]),
        (7, 1, [1] * 7),
    ],
)
def test_split_evenly(count: int, largest: int, sizes: list[int]) -> None:
    chunks = split_evenly(ids(count), largest)
    assert [len(c) for c in chunks] == sizes
    assert [t for c in chunks for t in c] == ids(count)
