"""Which cores a task has on its node, the variables that say so, and CPU pinning on both branches."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hipercow_core import processes
from hipercow_core.cores import core_variables, granted_cores
from hipercow_core.errors import InvalidResourcesError
from hipercow_core.resources import parse_resources


def test_the_schedulers_grant_is_believed_only_for_its_own_driver() -> None:
    two = parse_resources(cores=2)
    slurm_job = {"SLURM_CPUS_PER_TASK": "4", "CCP_NUMCPUS": "8", "HIPERCOW_LOCAL_CPUS": "0,1,2"}
    assert granted_cores(two, "slurm", slurm_job) == 4
    assert granted_cores(two, "windows-hpc", slurm_job) == 8
    assert granted_cores(two, "local", slurm_job) == 3
    assert granted_cores(two, "workers", slurm_job) == 2
    assert granted_cores(two, "local", {"SLURM_CPUS_PER_TASK": "4"}) == 2
    assert granted_cores(two, "slurm", {"SLURM_CPUS_PER_TASK": "x"}) == 2


def test_a_whole_node_is_the_cpus_this_process_may_use() -> None:
    assert granted_cores(parse_resources(cores="node"), "local", {}) == len(processes.usable_cpus())


def test_threads_per_process_divides_the_cores_into_processes() -> None:
    four = core_variables(parse_resources(cores=4, threads_per_process=2), 4)
    assert four["OMP_NUM_THREADS"] == four["MKL_NUM_THREADS"] == "2"
    assert four["MC_CORES"] == "2"
    assert four["HIPERCOW_THREADS_PER_PROCESS"] == "2"
    off = core_variables(parse_resources(cores=4, thread_variables=False), 4)
    assert off == {"HIPERCOW_CORES": "4"}


def test_bad_threads_per_process_is_refused() -> None:
    with pytest.raises(InvalidResourcesError, match="not a whole number"):
        parse_resources(threads_per_process="0")
    with pytest.raises(InvalidResourcesError, match="more than the task's 2 core"):
        parse_resources(cores=2, threads_per_process=3)
    assert parse_resources(cores="node", threads_per_process=8).threads_per_process == 8


# A child pins itself (never the test process) through one branch and says what it got.
PIN = """
import json, sys
from hipercow_core import processes
processes.IS_WINDOWS = sys.argv[1] == "windows"
cpus = processes.usable_cpus()
pinned = processes.pin_to_cpus(cpus[:1])
import os
print(json.dumps({"pinned": pinned, "now": processes.usable_cpus(), "os": sorted(os.sched_getaffinity(0))}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="affinity is checked with sched_getaffinity")
@pytest.mark.parametrize("branch", ["posix", "windows"])
def test_a_process_is_pinned_to_one_cpu_on_either_branch(branch: str) -> None:
    answer = subprocess.run(
        [sys.executable, "-c", PIN, branch], capture_output=True, text=True, check=True
    )
    shown = json.loads(answer.stdout)
    assert shown["pinned"] is True
    assert shown["now"] == shown["os"] == [processes.usable_cpus()[0]]
