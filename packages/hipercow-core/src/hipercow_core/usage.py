"""Measuring what a task used, in the runner: CPU time, peak memory, wall time.

Schedulers' accounting is often missing, late or switched off, so the runner
measures for itself, the same way on every driver. A thread samples the
task's whole process tree (resident memory summed at one moment, each
process's CPU times) a few times a second; on POSIX the operating system's
own count of reaped children adds what sampling misses (processes shorter
than a sample, the last moments of each). On Windows sampling is all there
is, so very short children may go uncounted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import msgspec

from hipercow_core import processes
from hipercow_core.processes import ChildTimes
from hipercow_core.root import Root
from hipercow_core.schema import Usage
from hipercow_core.store import read_markers

SAMPLE_SECONDS = 0.25


class UsageMeter:
    """Watches one started process and its descendants until `stop`."""

    def __init__(self, pid: int, cores: int) -> None:
        self.pid = pid
        self.cores = cores
        self.started = time.monotonic()
        self.before = processes.children_times()
        self.peak = 0
        self.cpu: dict[tuple[int, float], tuple[float, float]] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_done, daemon=True)
        self._thread.start()

    def _sample_until_done(self) -> None:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is a dependency of core
            return
        try:
            leader = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._done.is_set():
            self._sample(psutil, leader)
            self._done.wait(SAMPLE_SECONDS)

    def _sample(self, psutil: Any, leader: Any) -> None:
        try:
            members = [leader, *leader.children(recursive=True)]
        except psutil.Error:
            return
        rss = 0
        for process in members:
            try:
                with process.oneshot():
                    rss += process.memory_info().rss
                    times = process.cpu_times()
                    key = (process.pid, process.create_time())
            except psutil.Error:
                continue
            self.cpu[key] = (times.user, times.system)  # children_*: counted when reaped
        self.peak = max(self.peak, rss)

    def stop(self) -> Usage:
        """Stop sampling (the process has been waited for) and say what it used."""
        self._done.set()
        self._thread.join(timeout=2 * SAMPLE_SECONDS + 1)
        wall = time.monotonic() - self.started
        user = sum(u for u, _ in self.cpu.values())
        system = sum(s for _, s in self.cpu.values())
        peak = self.peak
        after = processes.children_times()
        if self.before is not None and after is not None:
            counted = _since(self.before, after)
            if counted.user + counted.system >= user + system:
                user, system = counted.user, counted.system
            peak = max(peak, counted.max_rss)
        return Usage(
            cpu_seconds=round(user + system, 3),
            user_seconds=round(user, 3),
            system_seconds=round(system, 3),
            wall_seconds=round(wall, 3),
            peak_memory=peak,
            cores=self.cores,
        )


def _since(before: ChildTimes, after: ChildTimes) -> ChildTimes:
    return ChildTimes(after.user - before.user, after.system - before.system, after.max_rss)


def cpu_share(usage: Usage) -> float | None:
    """CPU time as a share of what the task's cores could give over its wall time (0.83 = 83 %)."""
    if usage.wall_seconds <= 0 or usage.cores <= 0:
        return None
    return usage.cpu_seconds / (usage.wall_seconds * usage.cores)


def requested_memory(memory_per_task: int | None, memory_per_node: int | None) -> int | None:
    """The memory a task asked for, in bytes (per task, else per node), if it asked."""
    mb = memory_per_task if memory_per_task is not None else memory_per_node
    return None if mb is None else mb * 1_000_000


class UsageTotal(msgspec.Struct, frozen=True):
    """A set of tasks' usage added up: `tasks` counts those with a record; peak is the largest."""

    tasks: int
    cpu_seconds: float
    wall_seconds: float
    core_seconds: float
    peak_memory: int

    @property
    def cpu_share(self) -> float | None:
        return self.cpu_seconds / self.core_seconds if self.core_seconds > 0 else None


def recorded_usage(root: Root, task_ids: Iterable[str]) -> dict[str, Usage | None]:
    """Each task's usage as its runner recorded it (None: not finished, or not by its runner)."""
    result: dict[str, Usage | None] = {}
    for task_id in task_ids:
        finished = read_markers(root, task_id).finished
        result[task_id] = finished.usage if finished else None
    return result


def total(usages: Iterable[Usage | None]) -> UsageTotal:
    known = [u for u in usages if u is not None]
    return UsageTotal(
        tasks=len(known),
        cpu_seconds=round(sum(u.cpu_seconds for u in known), 3),
        wall_seconds=round(sum(u.wall_seconds for u in known), 3),
        core_seconds=round(sum(u.wall_seconds * u.cores for u in known), 3),
        peak_memory=max((u.peak_memory for u in known), default=0),
    )
