"""A project whose path has a space and non-ASCII characters, on both kinds of node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import Configure, PortalCli

from hipercow_core.root import Root
from hipercow_testing import kill_processes_under
from hipercow_windows_hpc.credentials import Credentials

pytestmark = pytest.mark.portal

NAME = "my prøject ü"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Root]:
    """The project at `tmp_path/my prøject ü` (the share is still `tmp_path`)."""
    directory = tmp_path / NAME
    directory.mkdir()
    root, _ = Root.init(directory)
    monkeypatch.chdir(directory)
    monkeypatch.delenv("HIPERCOW_ROOT", raising=False)
    yield root
    kill_processes_under(directory)


def test_a_task_runs_on_a_linux_node_from_a_path_with_a_space_and_umlauts(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure()
    task_id = hpc("task", "create", "--", "sh", "-c", "pwd").stdout.strip()
    waited = hpc("task", "wait", task_id, "--timeout", "60", check=False)
    assert waited.code == 0, waited.output
    assert hpc("task", "log", task_id).stdout.strip().endswith(f"/{NAME}")
    [job] = portal.jobs()
    assert job["workdir"] == f"/mnt/cluster/{NAME}"


def test_the_stand_in_finds_a_windows_batch_file_under_a_path_with_a_space(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, logged_in: Credentials
) -> None:
    configure(platform="windows")
    task_id = hpc("task", "create", "--", "hostname").stdout.strip()
    [job] = portal.jobs()
    assert job["command"] == (
        f'call "\\\\wpia-hn\\hipercow\\{NAME}\\hipercow\\tasks\\{task_id[:2]}\\{task_id[2:]}'
        '\\run.bat"'
    )
    hpc("task", "wait", task_id, "--timeout", "60", check=False)
    [job] = portal.jobs()
    assert job["state"] == "Finished", job
