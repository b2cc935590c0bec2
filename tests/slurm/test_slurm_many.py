"""Thousands of tasks go to Slurm in a handful of job arrays, and all of them run.

The development cluster starts about three jobs a second (six slots, and a
few seconds between a job's end and the next start on its slot), so this
takes around 15 minutes. The tasks ask for low priority, which is also how a
user should send a big batch: jobs other tests (and people) submit meanwhile
start first instead of queueing behind 2,500 others.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from slurm.helpers import User

from hipercow_core.resources import parse_resources
from hipercow_core.tasks import TaskSpec, create_tasks, tasks_status

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(2400)]

COUNT = 2500  # more than the cluster's MaxArraySize of 1001


def counting_sbatch(directory: Path) -> Path:
    """An `sbatch` that logs each call, then runs the real one."""
    real = shutil.which("sbatch")
    assert real is not None
    directory.mkdir()
    log = directory / "calls"
    wrapper = directory / "sbatch"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return log


def test_2500_tasks_in_at_most_three_sbatch_calls_all_succeed(
    slurm: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_sbatch(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    started = time.monotonic()
    spec = TaskSpec(command=("true",), resources=parse_resources(priority="low"))
    ids = create_tasks(slurm.root, [spec] * COUNT)
    submitted = time.monotonic() - started
    assert len(calls.read_text().splitlines()) <= 3
    assert submitted < 60
    jobs = {slurm.info(task_id)["job_id"].split("_")[0] for task_id in (ids[0], ids[-1])}
    assert len(jobs) == 2  # the first and last tasks are in different arrays

    deadline = time.monotonic() + 2100
    statuses = tasks_status(slurm.root, ids)
    while any(not s.is_terminal for s in statuses.values()):
        assert time.monotonic() < deadline, "tasks did not all finish in time"
        time.sleep(5)
        active = [t for t, s in statuses.items() if not s.is_terminal]
        statuses.update(tasks_status(slurm.root, active))
    failed = {t: s for t, s in statuses.items() if s != "success"}
    assert not failed, f"{len(failed)} tasks did not succeed, e.g. {next(iter(failed.items()))}"
