"""Creating tasks on Slurm asks the scheduler once, for the sbatch: cluster facts are saved.

The Slurm commands a create runs are read from hipercow's own debug log
(`--verbose`), as a person checking what it does would.
"""

from __future__ import annotations

import re

from slurm.helpers import User

from hipercow_testing import Result

COMMAND = re.compile(r"slurm command .*program=(\w+)")


def slurm_commands(result: Result) -> list[str]:
    return COMMAND.findall(result.stderr)


def test_a_create_makes_one_scheduler_call_once_cluster_facts_are_saved(slurm: User) -> None:
    first = slurm.cli("--verbose", "task", "create", "--", "true")
    assert slurm_commands(first) == ["sinfo", "scontrol", "sbatch"]

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
