"""On Slurm a task's core variables match the job's grant, and the runner records its usage."""

from __future__ import annotations

import sys

import pytest
from slurm.helpers import User

pytestmark = pytest.mark.slurm


def test_the_thread_variables_match_slurm_cpus_per_task(slurm: User) -> None:
    show = 'echo "$SLURM_CPUS_PER_TASK $HIPERCOW_CORES $OMP_NUM_THREADS $MKL_NUM_THREADS $MC_CORES"'
    task_id = slurm.create("--cores", "2", "--", "sh", "-c", show)
    assert slurm.wait(task_id, timeout=90) == "success"
    assert slurm.cli("task", "log", task_id).stdout == "2 2 2 2 2\n"
    blas = (
        "import numpy, threadpoolctl; print(max(i['num_threads'] for i in"
        " threadpoolctl.threadpool_info() if i['user_api'] == 'blas'))"
    )
    one = slurm.create("--cores", "1", "--", sys.executable, "-c", blas)
    assert slurm.wait(one, timeout=90) == "success"
    assert slurm.cli("task", "log", one).stdout == "1\n"


BURN = (
    "import time\n"
    "block = b'x' * 300_000_000\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < 2.0: pass\n"
)


def test_the_runner_records_cpu_and_peak_memory_on_a_node(slurm: User) -> None:
    task_id = slurm.create("--memory-per-task", "1G", "--", sys.executable, "-c", BURN)
    assert slurm.wait(task_id, timeout=120) == "success"
    usage = slurm.info(task_id)["usage"]
    assert usage["peak_memory"] >= 300_000_000
    assert usage["cpu_seconds"] >= 1.8
    assert usage["cores"] == 1
    line = slurm.cli("task", "info", task_id).stdout
    assert "peak memory" in line and "of 1.0 GB requested" in line
