"""Grouping tasks into sbatch calls: one job array per set of identical arguments.

One sbatch call per task is what clusters punish, so tasks whose sbatch
arguments are identical share a job array. An array may not be larger than
the cluster's MaxArraySize (indices run from 0 to MaxArraySize - 1), so a
large group is split into nearly equal arrays; a group of one is a plain job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple


class JobPlan(NamedTuple):
    """One sbatch call: these tasks, with these arguments; an array if more than one."""

    args: tuple[str, ...]
    task_ids: tuple[str, ...]

    @property
    def is_array(self) -> bool:
        return len(self.task_ids) > 1


def plan_jobs(tasks: Iterable[tuple[str, Sequence[str]]], max_array_size: int) -> list[JobPlan]:
    """Group (task id, sbatch args) pairs by args, then split each group into arrays.

    Groups keep the order in which their first task was given, and tasks
    keep their order inside a group. A `max_array_size` below 2 (arrays
    disabled) gives one job per task.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for task_id, args in tasks:
        groups.setdefault(tuple(args), []).append(task_id)
    return [
        JobPlan(args, tuple(chunk))
        for args, task_ids in groups.items()
        for chunk in split_evenly(task_ids, max(1, max_array_size))
    ]


def split_evenly(items: Sequence[str], largest: int) -> list[Sequence[str]]:
    """The fewest chunks of at most `largest` items, their sizes differing by at most one."""
    if not items:
        return []
    count = math.ceil(len(items) / largest)
    size, extra = divmod(len(items), count)
    chunks: list[Sequence[str]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks
