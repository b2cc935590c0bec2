"""The real Slurm cluster for end-to-end tests, shared by every suite that needs it.

`cluster_session` starts the cluster with `tools/slurm-cluster/cluster.py
start` (idempotent) and stops it at the end only if this run was the one
that started it; with pytest-xdist the workers (of tests/slurm and of the
driver contract suite alike) agree on that through a small state file, and
the last worker out stops it.

Tests that disturb the cluster (kill a node's slurmd, stop the controller)
take an exclusive lock (`cluster_access(exclusive=True)`) while every other
test holds it shared, so, run in parallel, a disruption never hits another
test's tasks; the lock file lives in the system temp directory, so
concurrent pytest runs on this machine respect it too.

Importable as `slurm.cluster` (pytest and mypy both have tests/ on their path).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock
from slurm.helpers import cluster_is_up, cluster_tool, controller_answers

from hipercow_testing import Cli

ACCESS_LOCK = Path(tempfile.gettempdir()) / "hipercow-slurm-tests.lock"
ACCESS_GATE = Path(tempfile.gettempdir()) / "hipercow-slurm-tests.gate"
CAN_RUN = sys.platform.startswith("linux") and os.geteuid() == 0


@contextlib.contextmanager
def cluster_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The cluster, up while this is held; stopped afterwards only if this run started it.

    Skips the test where the cluster tool cannot run (it needs root on Linux).
    """
    if not CAN_RUN:
        pytest.skip("the Slurm cluster tool needs root on Linux")
    # Workers of one xdist run share their base temp's parent; a plain run has its own.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    state_file = shared / "slurm-cluster-session.json"
    with FileLock(str(shared / "slurm-cluster-session.lock")):
        state = json.loads(state_file.read_text()) if state_file.exists() else {"users": 0}
        if state["users"] == 0:
            # Under the access lock: a disruptive test of another run may have stopped
            # the controller on purpose, and a start now would bring it back under it.
            with cluster_access(exclusive=False):
                state["started_here"] = not cluster_is_up()
                cluster_tool("start")
        state["users"] += 1
        state_file.write_text(json.dumps(state))
    try:
        yield
    finally:
        with FileLock(str(shared / "slurm-cluster-session.lock")):
            state = json.loads(state_file.read_text())
            state["users"] -= 1
            state_file.write_text(json.dumps(state))
            if state["users"] == 0 and state.get("started_here"):
                cluster_tool("stop")


@contextlib.contextmanager
def cluster_access(exclusive: bool) -> Iterator[None]:
    """Hold the tests' access lock, shared or exclusive, making sure the cluster is up.

    flock has no fairness: with several workers taking turns at the shared
    lock, an exclusive request could wait for ever. So a second lock, the
    gate, is held by an exclusive holder from before it asks until it is
    done, and a shared holder passes through the gate (holding it only for
    the instant of taking its share): once an exclusive request is at the
    gate, no new shared holder starts.
    """
    with ACCESS_GATE.open("a") as gate, ACCESS_LOCK.open("a") as handle:
        if exclusive:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(handle, fcntl.LOCK_EX)
        else:
            fcntl.flock(gate, fcntl.LOCK_EX)  # an instant, unless an exclusive holder has it
            fcntl.flock(handle, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            if not controller_answers():
                # Someone (another run, another engineer) stopped it: bring it back.
                cluster_tool("start")
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            fcntl.flock(gate, fcntl.LOCK_UN)


def configure(cli: Cli) -> None:
    """Point a project at the test cluster's partition."""
    cli("driver", "configure", "slurm", "partition=main")
