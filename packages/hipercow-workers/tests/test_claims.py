"""The claim that keeps a task queued twice from running twice: its running marker, written once.

A worker claims a Python task itself (`store.claim_running`, naming the
executor); a task it runs through the runner is claimed by that runner
(`hipercow_core.run --claim-for WORKER`), so `task info` names the runner
from the start. No Redis here: what is checked is what the files say.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipercow_core.root import Root
from hipercow_core.run import EXIT_TAKEN
from hipercow_core.schema import RunningMarker, TaskStatus
from hipercow_core.store import claim_running, ensure_task_dir, file_status, read_running
from hipercow_core.tasks import TaskSpec, create_tasks


@pytest.fixture
def root(tmp_path: Path) -> Root:
    project = tmp_path / "project"
    project.mkdir()
    root, _ = Root.init(project)
    return root


def shell_task(root: Root, name: str) -> str:
    spec = TaskSpec(command=(sys.executable, "-c", f"open('{name}', 'w').write('ran')"))
    (task_id,) = create_tasks(root, [spec], cwd=root.project, submit=False)
    ensure_task_dir(root, [task_id])  # as submitting would
    return task_id


def runner(root: Root, task_id: str, worker: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "hipercow_core.run", "--root", str(root.project)]
    return subprocess.run([*command, "--claim-for", worker, task_id], timeout=120, check=False)


def test_the_runner_claims_the_task_for_its_worker_and_its_marker_names_it(root: Root) -> None:
    task_id = shell_task(root, "first.txt")
    assert runner(root, task_id, "worker-a").returncode == 0
    assert file_status(root, task_id) == TaskStatus.SUCCESS
    assert (root.project / "first.txt").read_text() == "ran"
    marker = read_running(root, task_id)
    assert marker is not None
    assert marker.worker == "worker-a"
    assert marker.hipercow_version is not None  # the runner's own marker, not the worker's


def test_a_task_claimed_already_is_left_alone(root: Root) -> None:
    task_id = shell_task(root, "second.txt")
    theirs = RunningMarker(datetime.now(UTC), "elsewhere", 1, worker="worker-a")
    assert claim_running(root, task_id, theirs)
    assert not claim_running(root, task_id, theirs)  # written once
    assert runner(root, task_id, "worker-b").returncode == EXIT_TAKEN
    assert not (root.project / "second.txt").exists()
    assert read_running(root, task_id) == theirs
    assert file_status(root, task_id) == TaskStatus.RUNNING  # still the first worker's
