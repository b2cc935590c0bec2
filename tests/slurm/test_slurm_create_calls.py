"""Creating tasks on Slurm asks the scheduler once, for the sbatch: cluster facts are saved.

`driver configure slurm` asks for them (and checks the partitions named), so
even the first create after it sends only its sbatch.

The Slurm commands a create runs are read from hipercow's own debug log
(`--verbose`), as a person checking what it does would.
"""

from __future__ import annotations

import re
import shutil

from slurm.helpers import User

from hipercow_testing import Result

COMMAND = re.compile(r"slurm command .*program=(\w+)")


def slurm_commands(result: Result) -> list[str]:
    return COMMAND.findall(result.stderr)


def test_a_create_makes_one_scheduler_call_once_cluster_facts_are_saved(slurm: User) -> None:
    shutil.rmtree(slurm.root.cache_dir())  # as in a project never configured on this machine
    configured = slurm.cli("--verbose", "driver", "configure", "slurm", "partition=main")
    assert slurm_commands(configured) == ["sinfo", "scontrol"]
    first = slurm.cli("--verbose", "task", "create", "--", "true")
    assert slurm_commands(first) == ["sbatch"]

    again = slurm.cli("--verbose", "task", "create", "--", "true")
    assert slurm_commands(again) == ["sbatch"]
    bulk = slurm.cli("--verbose", "bulk", "create", "--data", "x=1..5", "--", "echo", "@x")
    assert slurm_commands(bulk) == ["sbatch"]

    # a request the saved facts refuse is checked against the scheduler's own answer
    refused = slurm.cli("--verbose", "task", "create", "--cores", "3", "--", "true", check=False)
    assert refused.code == 1 and "--cores 3 is more than" in refused.stderr
    assert slurm_commands(refused) == ["sinfo", "scontrol"]

    # `cluster info` always asks afresh
    assert slurm_commands(slurm.cli("--verbose", "cluster", "info")) == ["sinfo", "scontrol"]


def test_configure_names_a_partition_the_cluster_does_not_have(slurm: User) -> None:
    typo = slurm.cli("driver", "configure", "slurm", "partition=mian", "build_partition=short")
    assert "partition=mian: the cluster has no partition 'mian' (it has " in typo.stderr
    assert "build_partition" not in typo.stderr
    fixed = slurm.cli("driver", "configure", "slurm", "partition=main")
    assert "no partition" not in fixed.stderr
