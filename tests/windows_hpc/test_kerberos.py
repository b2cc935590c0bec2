"""Linux-node tasks keep their Kerberos ticket fresh while they run (the shares need it).

There is no KDC here, so `kinit` and `klist` are small scripts on the jobs'
PATH that record each call; what is tested is the batch script's wrapper:
that it renews at the configured interval, stops when the task ends, can be
turned off, and does nothing (but say so) where there are no Kerberos tools.
The tasks ask for a Python the cluster has no module for: loading one would
read /etc/profile, which resets PATH here and so hides the stubs.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import Configure, PortalCli

from hipercow_core.root import Root
from hipercow_core.tasks import TaskSpec, create_tasks, task_outer_log
from hipercow_windows_hpc.credentials import Credentials

pytestmark = pytest.mark.portal


@pytest.fixture
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the stub Kerberos tools write down how they were called."""
    return tmp_path_factory.mktemp("kerberos") / "calls.txt"


@pytest.fixture
def portal_extra(record: Path) -> dict[str, Any]:
    """Linux jobs find stub `kinit` and `klist` (which says there is a ticket) first."""
    tools = record.parent / "bin"
    tools.mkdir()
    for name in ("kinit", "klist"):
        script = tools / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {record}\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"job_env": {"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}}


def calls_of(record: Path) -> list[str]:
    return record.read_text().splitlines() if record.exists() else []


def test_long_linux_tasks_renew_their_ticket_until_they_end(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
    record: Path,
) -> None:
    configure(kerberos_renew="0.2", python_version="3.10")
    [task] = create_tasks(project, [TaskSpec(("sleep", "1.2"))])
    assert hpc("task", "wait", task, "--timeout", "60", check=False).code == 0
    first, *renewals = calls_of(record)
    assert first == "klist -s"
    # The task runs at least 1.2 s: six intervals, less slack for a slow start.
    assert set(renewals) == {"kinit -R"} and len(renewals) >= 3, renewals
    time.sleep(0.5)  # a renewer left behind would have renewed twice more by now
    assert len(calls_of(record)) == 1 + len(renewals)


def test_renewal_can_be_turned_off(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
    record: Path,
) -> None:
    configure(kerberos_renew="0", python_version="3.10")
    [task] = create_tasks(project, [TaskSpec(("sleep", "0.5"))])
    assert hpc("task", "wait", task, "--timeout", "60", check=False).code == 0
    assert calls_of(record) == []


@pytest.mark.parametrize("portal_extra", [{}])
def test_without_kerberos_tools_the_task_runs_and_the_log_says_why_nothing_was_renewed(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
) -> None:
    configure(kerberos_renew="0.2", python_version="3.10")
    [task] = create_tasks(project, [TaskSpec(("true",))])
    assert hpc("task", "wait", task, "--timeout", "60", check=False).code == 0
    outer = task_outer_log(project, task) or ""
    assert "no 'kinit' on" in outer and "not renewing the Kerberos ticket" in outer
