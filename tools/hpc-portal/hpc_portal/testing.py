"""Helpers for tests that use the stand-in: checking no job process is left behind.

Job processes run in their own process groups, so "nothing left behind" means
no live (non-zombie) process in any of the groups a test saw. Zombies are
ignored: killed grandchildren may wait for a non-reaping init to collect them.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpc_portal.server import PortalStandin


def live_processes_in_groups(pgids: Collection[int]) -> list[int]:
    """Pids of live processes in any of these process groups (Linux /proc; [] elsewhere)."""
    proc = Path("/proc")
    if not pgids or not proc.is_dir():
        return []
    live = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp in pgids and state not in ("Z", "X"):
            live.append(int(entry.name))
    return live


def wait_until_gone(pgids: Collection[int], timeout: float = 5.0) -> list[int]:
    """Wait for these process groups to empty; returns the pids still alive at the end."""
    deadline = time.monotonic() + timeout
    while True:
        live = live_processes_in_groups(pgids)
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.02)


@contextmanager
def running_standin(config: Any) -> Iterator[PortalStandin]:
    """A started stand-in; on leaving, closed, and no job process it started may be alive."""
    from hpc_portal.server import PortalStandin

    standin = PortalStandin(config).start()
    pgids: set[int] = set()
    try:
        yield standin
        pgids = {int(job["pgid"]) for job in standin.jobs() if job["pgid"]}
    finally:
        standin.close()
    assert wait_until_gone(pgids) == [], "job processes outlived the stand-in"
