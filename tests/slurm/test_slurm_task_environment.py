"""A task's environment on Slurm is the one every driver gives: base variables plus --env."""

from __future__ import annotations

import pytest
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
