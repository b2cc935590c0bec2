"""The driver contract, as a user sees it: every driver behaves the same through `hipercow`.

Each test runs once per driver (`contract.adapters.DRIVERS`); a new driver
joins by adding its adapter there. What is checked is what a user would check: the
status, `task info --json`, the logs, and that processes really stopped.
"""

from __future__ import annotations

import os
import signal
from datetime import datetime

import psutil
from contract.adapters import User

from hipercow_testing import wait_until


def gone(process: psutil.Process) -> bool:
    """Whether a process has exited (a zombie awaiting its parent counts as exited)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def when(info: dict[str, object], event: str) -> datetime:
    times = info["times"]
    assert isinstance(times, dict), info
    return datetime.fromisoformat(str(times[event]))


def test_a_task_runs_and_succeeds_and_its_log_is_readable(driver: User) -> None:
    task_id = driver.create("--", "sh", "-c", "echo hello from $0; echo oops >&2", driver.name)
    assert driver.wait(task_id) == "success"
    assert driver.cli("task", "log", task_id).stdout == f"hello from {driver.name}\noops\n"
    info = driver.info(task_id)
    assert info["status"] == "success"
    assert info["exit_code"] == 0
    assert info["driver"] == driver.name
    assert info["job_id"]
    assert when(info, "created") <= when(info, "submitted") <= when(info, "started")
    assert when(info, "started") <= when(info, "finished")


def test_a_failing_task_is_a_failure_with_its_exit_code(driver: User) -> None:
    task_id = driver.create("--", "sh", "-c", "echo about to fail; exit 3")
    waited = driver.cli(
        "task", "wait", task_id, "--timeout", str(driver.adapter.patience), check=False
    )
    assert waited.code == 1
    info = driver.info(task_id)
    assert info["status"] == "failure"
    assert info["exit_code"] == 3
    assert driver.cli("task", "log", task_id).stdout == "about to fail\n"


def test_cancel_before_the_task_starts(driver: User) -> None:
    task_id = driver.create("--hold-until", "1h", "--", "sh", "-c", "echo ran > ran.txt")
    assert driver.status(task_id) == "submitted"
    cancelled = driver.json("task", "cancel", task_id)
    assert cancelled == {task_id: True}
    assert driver.status(task_id) == "cancelled"
    info = driver.info(task_id)
    assert info["reason"] == "cancelled"
    assert "started" not in info["times"]
    assert not (driver.root.task_dir(task_id) / "running.json").exists()
    assert not driver.path("ran.txt").exists()
    assert driver.json("task", "cancel", task_id) == {task_id: False}, "cancelling again"


def test_cancel_after_the_task_started_stops_its_runner(driver: User) -> None:
    task_id = driver.create("--", "sleep", "600")
    runner = driver.runner(task_id)
    assert driver.json("task", "cancel", task_id) == {task_id: True}
    assert driver.status(task_id) == "cancelled"
    wait_until(lambda: gone(runner), timeout=driver.adapter.patience)
    info = driver.info(task_id)
    assert info["status"] == "cancelled"
    assert info["reason"] == "cancelled"
    # Whatever the scheduler says of the stopped job later, the task stays cancelled.
    assert driver.wait(task_id) == "cancelled"


def test_a_runner_killed_from_outside_is_lost(driver: User) -> None:
    task_id = driver.create("--", "sleep", "600")
    runner = driver.runner(task_id)
    os.kill(runner.pid, signal.SIGKILL)
    driver.wait_for_status(task_id, "failure", "success", "cancelled")
    info = driver.info(task_id)
    assert info["status"] == "failure", info
    assert info["reason"] == "lost", info
    note = info["note"]
    assert info["job_id"] in note or str(runner.pid) in note, f"which job or runner? {note}"


def test_a_task_whose_dependency_fails_fails_without_running(driver: User) -> None:
    first = driver.create("--", "sh", "-c", "sleep 1; exit 1")
    second = driver.create("--depends-on", first, "--", "sh", "-c", "echo ran > ran.txt")
    assert driver.wait(first) == "failure"
    assert driver.wait(second) == "failure"
    info = driver.info(second)
    assert info["reason"] == "dependency failed", info
    assert "started" not in info["times"]
    assert not driver.path("ran.txt").exists()
    # Depending on a task already known to have failed fails at once, at submission.
    third = driver.create("--depends-on", first, "--", "true")
    assert driver.info(third)["reason"] == "dependency failed"


def test_a_dependency_inside_one_batch_is_honoured(driver: User) -> None:
    driver.cli(
        "bulk", "create", "--no-submit", "--name", "first", "--data", "word=first", "--",
        "sh", "-c", "sleep 2; echo @word > order.txt",
    )  # fmt: skip
    driver.cli(
        "bulk", "create", "--no-submit", "--name", "second", "--data", "n=1", "--depends-on",
        "first", "--", "sh", "-c", "cat order.txt; echo @n",
    )  # fmt: skip
    [first] = [t["id"] for t in driver.json("bundle", "status", "first")]
    [second] = [t["id"] for t in driver.json("bundle", "status", "second")]
    # One submission holds both tasks, the dependency and its dependent.
    assert "Submitted 2 tasks" in driver.cli("task", "submit").stdout
    assert driver.wait(second) == "success"
    assert driver.cli("task", "log", second).stdout == "first\n1\n"
    assert when(driver.info(second), "started") >= when(driver.info(first), "finished")


def test_the_outer_log_has_the_schedulers_view_and_hipercows_note(driver: User) -> None:
    task_id = driver.create("--", "sleep", "600")
    driver.runner(task_id)
    job_id = driver.info(task_id)["job_id"]
    wait_until(
        lambda: (
            driver.adapter.scheduler_words(task_id, job_id)
            in driver.cli("task", "log", "--outer", task_id).stdout
        ),
        timeout=driver.adapter.patience,
    )
    driver.cli("task", "cancel", task_id)
    outer = driver.cli("task", "log", "--outer", task_id).stdout
    assert driver.adapter.scheduler_words(task_id, job_id) in outer
    assert f"hipercow: {driver.name} job {job_id} cancelled" in outer


def test_cluster_info_names_the_driver_and_its_cores(driver: User) -> None:
    info = driver.json("cluster", "info")
    assert info["driver"] == driver.name
    assert info["max_cores"] > 0
    assert info["nodes"] and all(node["cores"] > 0 for node in info["nodes"])


def test_every_reporting_command_speaks_json(driver: User) -> None:
    driver.cli("bulk", "create", "--name", "pair", "--data", "n=1..2", "--", "sh", "-c", "echo @n")
    assert driver.json("bundle", "wait", "pair", "--timeout", str(driver.adapter.patience)) == {
        "bundle": "pair",
        "counts": {"success": 2},
    }
    tasks = driver.json("bundle", "status", "pair")
    assert [t["status"] for t in tasks] == ["success", "success"]
    task_id = tasks[0]["id"]
    assert driver.json("task", "status", task_id) == {"id": task_id, "status": "success"}
    assert driver.json("task", "wait", task_id) == {"id": task_id, "status": "success"}
    assert driver.json("task", "info", task_id)["driver"] == driver.name
    listed = {t["id"] for t in driver.json("task", "list")}
    assert listed - driver.adapter.own_tasks(driver.cli) == {t["id"] for t in tasks}
    assert driver.json("task", "last")["id"] == tasks[-1]["id"]
    assert driver.json("task", "cancel", task_id) == {task_id: False}
    assert driver.json("bundle", "status", "pair", "--summary", "counts") == {"success": 2}
    own = driver.adapter.own_bundles(driver.cli)
    [bundle] = [b for b in driver.json("bundle", "list") if b["name"] not in own]
    assert (bundle["name"], bundle["tasks"]) == ("pair", 2)
    assert driver.json("cluster", "info")["driver"] == driver.name
    assert driver.json("driver", "show", driver.name)["name"] == driver.name
