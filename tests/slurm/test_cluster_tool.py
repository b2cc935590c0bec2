"""Checks that tools/slurm-cluster/cluster.py brings up a cluster a user can actually use.

These tests drive the tool the way a developer or CI does (``uv run python ... start``) and
then assert only what a user would check by hand: the nodes and partitions sinfo shows, a
submitted job that completes, and a second ``start`` that changes nothing.  They leave the
cluster running on purpose: other Slurm tests reuse it and a session teardown stops it.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sh
from slurm.cluster import cluster_access

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / "tools" / "slurm-cluster" / "cluster.py"
DEFAULT_DIR = Path("/tmp/hipercow-slurm")

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or os.geteuid() != 0,
        reason="the Slurm cluster tool needs root on Linux",
    ),
]


def run_tool(*args: str) -> str:
    """Run the tool as documented (from the workspace root, via uv) and return stdout.

    A failure shows the tool's stderr, which carries the tail of the relevant daemon log.
    """
    try:
        return str(sh.uv("run", "python", str(TOOL), *args, _cwd=str(REPO_ROOT), _timeout=300))
    except sh.ErrorReturnCode as exc:
        pytest.fail(f"cluster.py {' '.join(args)} failed:\n{exc.stderr.decode(errors='replace')}")


def slurmctld_pid() -> int:
    """The controller's pid, read from the tool's pid file in the scratch directory."""
    root = Path(os.environ.get("HIPERCOW_SLURM_DIR") or DEFAULT_DIR)
    return int((root / "run" / "slurmctld.pid").read_text().strip())


def job_state(job_id: str) -> str:
    """JobState of one job from ``scontrol show job`` (works without accounting)."""
    out = str(sh.scontrol("show", "job", job_id))
    match = re.search(r"\bJobState=(\S+)", out)
    assert match, out
    return match.group(1)


@pytest.fixture
def cluster() -> Iterator[None]:
    """Start (or reuse) the cluster, holding the tests' shared access lock; never stop it here.

    Without the lock, a `start` here would bring back a controller that a
    disruptive test (in this run or another) had stopped on purpose.
    """
    with cluster_access(exclusive=False):
        run_tool("start")
        yield


def test_sinfo_lists_nodes_and_partitions(cluster: None) -> None:
    """n1..n3 are up, ``main`` is the default partition and ``short`` holds n1 only."""
    nodes = str(sh.sinfo("-h", "-N", "-o", "%N %P %T"))
    rows = [line.split() for line in nodes.splitlines() if line.strip()]
    assert {row[0] for row in rows} == {"n1", "n2", "n3"}
    assert all(row[2].rstrip("*~#!%$@^-+") in {"idle", "mixed", "allocated"} for row in rows)
    assert {row[0] for row in rows if row[1] == "short"} == {"n1"}

    partitions = str(sh.sinfo("-h", "-o", "%P"))
    assert set(partitions.split()) == {"main*", "short"}  # '*' marks the default


def test_submitted_job_completes(cluster: None, tmp_path: Path) -> None:
    """``sbatch --wrap hostname`` runs to COMPLETED and writes its output file."""
    job_id = str(
        sh.sbatch(
            "--parsable", f"--output={tmp_path}/out.txt", "--wrap", "hostname", _cwd=str(tmp_path)
        )
    ).strip()
    assert job_id.isdigit(), job_id

    deadline = time.monotonic() + 60
    delay = 0.5
    state = job_state(job_id)
    while state in {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING"}:
        assert time.monotonic() < deadline, f"job {job_id} still {state} after 60 s"
        time.sleep(delay)
        delay = min(delay * 1.5, 3.0)
        state = job_state(job_id)
    assert state == "COMPLETED"
    assert (tmp_path / "out.txt").read_text().strip()


def test_second_start_is_idempotent(cluster: None) -> None:
    """Running ``start`` again keeps the same controller and leaves everything up."""
    before = slurmctld_pid()
    run_tool("start")
    assert slurmctld_pid() == before
    status = run_tool("status")
    assert "NOT running" not in status
