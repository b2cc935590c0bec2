"""A task's environment on Slurm is the one every driver gives: base variables plus --env."""

from __future__ import annotations

import json

import pytest
import sh
from slurm.helpers import User

from hipercow_testing import Cli

pytestmark = pytest.mark.slurm


def test_a_job_carries_the_base_variables_and_env_never_the_shell(slurm: User) -> None:
    shell = Cli(slurm.root.project, {"FOO": "from the shell", "LC_ALL": "C.UTF-8"})
    show = 'echo "FOO=${FOO-unset} LC_ALL=${LC_ALL-unset} HOME=${HOME:+set}"'
    plain = shell("task", "create", "--", "sh", "-c", show).stdout.strip()
    given = shell("task", "create", "--env", "FOO=given", "--", "sh", "-c", show).stdout.strip()
    for task_id in (plain, given):
        assert slurm.wait(task_id, timeout=60) == "success"
    assert slurm.cli("task", "log", plain).stdout == "FOO=unset LC_ALL=C.UTF-8 HOME=set\n"
    assert slurm.cli("task", "log", given).stdout == "FOO=given LC_ALL=C.UTF-8 HOME=set\n"


def test_the_job_itself_carries_the_base_variables_and_sbatch_settings_only(
    slurm: User,
) -> None:
    """The batch script (its setup lines, hipercow's runner) never sees the user's shell,
    while sbatch still reads the user's own `SBATCH_*` defaults."""
    setup = 'setup=echo "job sees FOO=${FOO-unset} HOME=${HOME:+set}"'
    slurm.cli("driver", "configure", "slurm", setup)
    shell = Cli(slurm.root.project, {"FOO": "from the shell", "SBATCH_NO_REQUEUE": "1"})
    task_id = shell("task", "create", "--", "true").stdout.strip()
    assert slurm.wait(task_id, timeout=60) == "success"
    assert "job sees FOO=unset HOME=set" in slurm.outer_log(task_id)

    held = shell("task", "create", "--hold-until", "2h", "--", "true").stdout.strip()
    job_id = json.loads(slurm.cli("task", "info", held, "--json").stdout)["job_id"]
    assert "Requeue=0" in str(sh.scontrol("show", "job", job_id, _timeout=30))
