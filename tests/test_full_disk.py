"""A full or read-only disk, for real: each test mounts a small tmpfs and puts the project on it.

A full disk must give a two-line error naming the path (exit 1), never a
"bug"; a failed creation must leave no tasks and no temporary files; reading
commands must keep working (the cache is only a cache); and a runner that
finished while the disk was full must record its outcome once there is room.
Mounting needs root (or CAP_SYS_ADMIN); without it these tests are skipped
and say so.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hipercow_core.root import Root
from hipercow_testing import Cli, kill_processes_under, wait_until


class SmallDisk:
    """A tmpfs of a few megabytes, and a filler file that takes all its free space."""

    def __init__(self, mount: Path) -> None:
        self.mount = mount
        self.filler = mount / "filler"

    def fill(self, leave: int = 0) -> None:
        """Write zeros until the disk is full (or only `leave` bytes are free)."""
        with self.filler.open("ab") as f:
            block = b"\0" * 4096
            while True:
                free = os.statvfs(self.mount).f_bavail * os.statvfs(self.mount).f_frsize
                if free <= leave:
                    break
                try:
                    f.write(block)
                    f.flush()
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.mount)], check=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,nr_inodes=4000", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr}")
    try:
        yield SmallDisk(mount)
    finally:
        kill_processes_under(mount)
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def small(disk: SmallDisk, monkeypatch: pytest.MonkeyPatch) -> tuple[Root, Cli]:
    project = disk.mount / "project"
    project.mkdir()
    root, _ = Root.init(project)
    monkeypatch.delenv("HIPERCOW_ROOT", raising=False)
    return root, Cli(project)


def temporary_files(root: Root) -> list[Path]:
    return [p for p in root.path.rglob("*") if p.name.startswith(".tmp-")]


def assert_disk_error(result_output: str, code: int, what: str) -> None:
    assert code == 1, result_output
    lines = [line for line in result_output.splitlines() if line.strip()]
    assert len(lines) == 2, result_output
    assert lines[0].startswith("Error: cannot write '") and what in lines[0], result_output
    assert "This is a bug" not in result_output


def test_create_on_a_full_disk_is_a_clear_error_and_leaves_nothing(
    disk: SmallDisk, small: tuple[Root, Cli]
) -> None:
    root, cli = small
    disk.fill()
    result = cli("task", "create", "--", "true", check=False)
    assert_disk_error(result.output, result.code, "the disk is full")
    assert temporary_files(root) == []
    disk.free()
    assert cli("task", "list").stdout == ""


def test_a_bulk_creation_that_fills_the_disk_is_rolled_back(
    disk: SmallDisk, small: tuple[Root, Cli]
) -> None:
    root, cli = small
    disk.fill(leave=400_000)  # room for some tasks, not for 2,000
    result = cli("bulk", "create", "--data", "x=1..2000", "--", "echo", "@x", check=False)
    assert_disk_error(result.output, result.code, "the disk is full")
    assert temporary_files(root) == []
    assert list(root.tasks_dir.rglob("*.json")) == []
    assert not list((root.path / "bundles").glob("*.json"))
    disk.free()
    assert cli("task", "list").stdout == ""
    assert cli("bundle", "list").stdout == ""


def test_reading_commands_work_on_a_full_disk(disk: SmallDisk, small: tuple[Root, Cli]) -> None:
    root, cli = small
    task_id = cli("task", "create", "--wait", "--", "echo", "hi").stdout.strip()
    for cache in root.path.glob("cache/*"):
        for path in cache.iterdir():
            path.unlink()
    disk.fill()
    assert task_id in cli("task", "list").stdout
    assert cli("task", "status", task_id).stdout.strip() == "success"
    assert cli("task", "wait", task_id).code == 0
    assert cli("task", "log", task_id).stdout == "hi\n"
    assert task_id in cli("task", "info", task_id).stdout
    assert temporary_files(root) == []


def test_a_read_only_disk_reads_and_refuses_writes_clearly(
    disk: SmallDisk, small: tuple[Root, Cli]
) -> None:
    root, cli = small
    task_id = cli("task", "create", "--wait", "--", "true").stdout.strip()
    wait_until(lambda: not _processes_under(root.project))  # the idle daemon exits
    disk.remount("ro")
    assert task_id in cli("task", "list").stdout
    assert cli("task", "status", task_id).stdout.strip() == "success"
    result = cli("task", "create", "--", "true", check=False)
    assert_disk_error(result.output, result.code, "read-only")
    purged = cli("purge", check=False)
    assert_disk_error(purged.output, purged.code, "read-only")


def test_a_runner_that_finishes_on_a_full_disk_records_its_outcome_once_there_is_room(
    disk: SmallDisk, small: tuple[Root, Cli]
) -> None:
    root, cli = small
    cli.env["HIPERCOW_OUTCOME_RETRY_SECONDS"] = "120"
    task_id, gate = _ends_once_the_disk_is_full(disk, cli)
    wait_until(lambda: not _runner_alive(root, task_id) or _tried(gate), timeout=30)
    assert cli("task", "status", task_id).stdout.strip() == "running"
    disk.free()
    wait_until(lambda: cli("task", "status", task_id).stdout.strip() == "success", timeout=60)
    details = json.loads(cli("task", "info", task_id, "--json").stdout)
    assert details["exit_code"] == 0


def test_an_outcome_that_cannot_be_written_is_recorded_as_such_once_there_is_room(
    disk: SmallDisk, small: tuple[Root, Cli]
) -> None:
    root, cli = small
    cli.env["HIPERCOW_OUTCOME_RETRY_SECONDS"] = "1"
    task_id, _ = _ends_once_the_disk_is_full(disk, cli)
    wait_until(lambda: not _runner_alive(root, task_id), timeout=30)  # it gave up: exit 75
    assert not (root.task_dir(task_id) / "finished.json").exists()
    disk.free()
    marker = root.task_dir(task_id) / "finished.json"
    wait_until(marker.exists, timeout=30)  # the daemon, not a command, records it
    assert json.loads(marker.read_text())["reason"] == "outcome not recorded"
    details = json.loads(cli("task", "info", task_id, "--json").stdout)
    assert details["status"] == "failure"


def _ends_once_the_disk_is_full(disk: SmallDisk, cli: Cli) -> tuple[str, Path]:
    """A running task, and its gate: opened (off the small disk) only once that disk is full.

    Filled first, because the runner notices its command's end at once and
    would record the outcome before a disk filled afterwards.
    """
    gate = disk.mount.parent / "gate"
    task_id = cli(
        "task", "create", "--", "sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.1; done"
    ).stdout.strip()
    wait_until(lambda: cli("task", "status", task_id).stdout.strip() == "running")
    disk.fill()
    gate.touch()
    return task_id, gate


def _runner_alive(root: Root, task_id: str) -> bool:
    import psutil

    launch = json.loads((root.task_dir(task_id) / "local.json").read_text())
    return bool(psutil.pid_exists(launch["pid"]))


def _tried(gate: Path) -> bool:
    """The runner has finished its command: this task's shell (it names its gate) is gone."""
    import psutil

    return not any(
        f"while [ ! -e {gate} ]" in " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(["cmdline"])
    )


def _processes_under(path: Path) -> bool:
    import psutil

    marker = str(path)
    return any(
        marker in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
    )
