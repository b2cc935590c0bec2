"""Helpers for the slurm end-to-end tests: the cluster tool, Slurm's own view, a user.

Importable as `slurm.helpers` (pytest and mypy both have tests/ on their path).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sh

from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.store import iter_task_ids, read_markers
from hipercow_core.tasks import task_status, wait_task
from hipercow_testing import Cli

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "slurm-cluster" / "cluster.py"
SCRATCH = Path(os.environ.get("HIPERCOW_SLURM_DIR") or "/tmp/hipercow-slurm")

#: Apply a cluster configuration for one test: slurm.conf settings, and accounting or not.
Reconfigure = Callable[..., None]


def cluster_tool(*args: str, timeout: float = 300) -> str:
    """Run tools/slurm-cluster/cluster.py as documented; its stdout."""
    try:
        return str(sh.Command(sys.executable)(str(TOOL), *args, _cwd=str(REPO), _timeout=timeout))
    except sh.ErrorReturnCode as e:
        raise AssertionError(
            f"cluster.py {' '.join(args)} failed:\n{e.stderr.decode(errors='replace')}"
        ) from None


def cluster_is_up() -> bool:
    """All daemons running and every node usable (the tool's own `status` check)."""
    try:
        sh.Command(sys.executable)(str(TOOL), "status", _cwd=str(REPO), _timeout=60)
    except (sh.ErrorReturnCode, sh.TimeoutException):
        return False
    return True


def controller_answers() -> bool:
    """A quick check that slurmctld answers (a down controller makes sinfo wait ~9 s)."""
    try:
        sh.sinfo("--noheader", _timeout=20)
    except (sh.ErrorReturnCode, sh.TimeoutException):
        return False
    return True


def cancel_jobs_of(root: Root) -> None:
    """Cancel whatever Slurm still runs or holds for this project's tasks."""
    jobs = set()
    for task_id in iter_task_ids(root):
        with contextlib.suppress(Exception):
            marker = read_markers(root, task_id).submitted
            if marker is not None and marker.job_id and marker.driver == "slurm":
                jobs.add(marker.job_id)
    if jobs:
        with contextlib.suppress(sh.ErrorReturnCode, sh.TimeoutException):
            sh.scancel(*sorted(jobs), _timeout=60)


class User:
    """A user of a project on the cluster: the `hipercow` command, and what they would check."""

    def __init__(self, root: Root, cli: Cli) -> None:
        self.root = root
        self.cli = cli

    def create(self, *args: str) -> str:
        """`hipercow task create ARGS`; the new task's id."""
        return self.cli("task", "create", *args).stdout.strip().splitlines()[-1]

    def status(self, task_id: str) -> str:
        return self.cli("task", "status", task_id, check=False).stdout.strip()

    def info(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.cli("task", "info", "--json", task_id).stdout)
        return result

    def outer_log(self, task_id: str) -> str:
        return self.cli("task", "log", "--outer", task_id).stdout

    def wait(self, task_id: str, timeout: float) -> TaskStatus:
        """Wait for the task to end, polling at most every 2 s so outcomes show promptly."""
        return wait_task(self.root, task_id, timeout=timeout, poll=0.5, max_poll=2.0)

    def wait_running(self, task_id: str, timeout: float = 60) -> None:
        wait_for(lambda: task_status(self.root, task_id) == TaskStatus.RUNNING, timeout)


def slurmd_pid(node: str) -> int:
    """The slurmd of a node, from the cluster tool's pid file, else from the process list."""
    pid_file = SCRATCH / "run" / f"slurmd-{node}.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"-N" in cmdline and node.encode() in cmdline:
            return pid
    found = str(sh.pgrep("-f", f"slurmd -N {node}", _ok_code=[0, 1])).split()
    if not found:
        raise AssertionError(f"no slurmd running for node {node}")
    return int(found[0])


def scontrol_job(job_id: str) -> dict[str, str]:
    """`scontrol show job` of one job (or array element) as a dict of its fields."""
    text = str(sh.scontrol("show", "job", "--oneliner", job_id, _timeout=60))
    fields: dict[str, str] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep:
            fields.setdefault(key, value)
    return fields


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> float:
    """Poll until `predicate()` is true; the seconds it took. Fails the test on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - started
