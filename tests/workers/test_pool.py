"""The worker pool end to end on the local driver, with a real redis-server.

Workers are started with `hipercow worker start` (as local tasks) and tasks
go to them with the ordinary commands; every check is one a user would make
with `task status`, `task result`, `task log`, `bundle status`.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from hipercow_core.root import Root
from hipercow_core.store import read_markers
from hipercow_testing import Cli, wait_until

HEARTBEAT = 0.5  # as the `pool` fixture configures it


def start(cli: Cli, count: int, idle: str = "120s") -> list[str]:
    result = cli("worker", "start", str(count), "--idle-timeout", idle, "--json", timeout=120)
    started = json.loads(result.stdout)
    assert len(started["registered"]) == count, result.output
    return list(started["workers"])


def workers(cli: Cli) -> dict[str, dict[str, Any]]:
    return {w["id"]: w for w in json.loads(cli("worker", "status", "--json").stdout)}


def status(cli: Cli, task_id: str) -> str:
    return cli("task", "status", task_id).stdout.strip()


def info(cli: Cli, task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(cli("task", "info", task_id, "--json").stdout)
    return found


def call(cli: Cli, target: str, *args: str) -> str:
    return cli("task", "call", target, *args).stdout.strip()


def bundle_counts(cli: Cli, name: str) -> dict[str, int]:
    rows = json.loads(cli("bundle", "status", name, "--json").stdout)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


@pytest.mark.slow
def test_many_calls_and_shell_tasks_all_succeed_through_two_workers(
    pool: Cli, module: Path
) -> None:
    ids = start(pool, 2)
    pool("bulk", "call", "jobs:double", "--data", "x=1..1000", "--name", "calls")
    pool(
        "bulk",
        "create",
        "--data",
        "i=1..200",
        "--name",
        "shells",
        "--",
        "sh",
        "-c",
        "echo shell @i",
    )
    assert pool("bundle", "wait", "calls", "--timeout", "600", timeout=700).code == 0
    assert pool("bundle", "wait", "shells", "--timeout", "600", timeout=700).code == 0
    assert bundle_counts(pool, "calls") == {"success": 1000}
    assert bundle_counts(pool, "shells") == {"success": 200}
    results = json.loads(pool("bundle", "result", "calls", "--json").stdout)
    assert [r["value"] for r in results] == [2 * x for x in range(1, 1001)]
    shell_ids = [r["id"] for r in json.loads(pool("bundle", "status", "shells", "--json").stdout)]
    assert pool("task", "log", shell_ids[41]).stdout == "shell 42\n"
    call_ids = [r["id"] for r in json.loads(pool("bundle", "status", "calls", "--json").stdout)]
    assert pool("task", "log", call_ids[6]).stdout == "doubling 7\n"
    assert info(pool, call_ids[6])["driver"] == "workers"
    done = {w: row["done"] for w, row in workers(pool).items()}
    assert sum(done[w] for w in ids) == 1200
    assert all(done[w] > 0 for w in ids), done  # both workers took part


def test_a_killed_busy_worker_loses_its_task_and_the_other_finishes_the_rest(
    pool: Cli, module: Path
) -> None:
    start(pool, 2)
    slow = call(pool, "jobs:sleep", "60")
    wait_until(lambda: status(pool, slow) == "running", timeout=30)
    busy = next(w for w in workers(pool).values() if w["task"] == slow)
    os.kill(busy["pid"], signal.SIGKILL)
    # Its last heartbeat was at most one period ago and expires three periods after
    # it: the first status check from then on must find the task lost.
    time.sleep(3 * HEARTBEAT + 0.2)
    assert status(pool, slow) == "failure"
    pool("bulk", "call", "jobs:ident", "--data", "x=1..20", "--name", "rest")
    lost = info(pool, slow)
    assert lost["reason"] == "lost"
    assert busy["id"] in lost["note"]
    assert pool("bundle", "wait", "rest", "--timeout", "60", timeout=90).code == 0
    assert workers(pool)[busy["id"]]["state"] == "lost"


def test_a_worker_killed_among_short_tasks_loses_at_most_the_one_it_ran(
    pool: Cli, module: Path, tmp_path: Path
) -> None:
    """The task it had taken ahead (never started) goes back to the queue, and runs once."""
    (first,) = start(pool, 1)
    marks = tmp_path / "marks"
    marks.mkdir()
    count = 200
    pool("bulk", "call", "jobs:mark", "--data", f"x=1..{count}", "--env", f"MARKS={marks}",
         "--name", "short")  # fmt: skip
    wait_until(lambda: len(list(marks.iterdir())) >= 20, timeout=60)
    os.kill(workers(pool)[first]["pid"], signal.SIGKILL)
    time.sleep(3 * HEARTBEAT + 0.2)  # its heartbeat has expired: the next check sees it gone
    pool("bundle", "status", "short")
    start(pool, 1)
    pool("bundle", "wait", "short", "--timeout", "120", timeout=180, check=False)
    rows = json.loads(pool("bundle", "status", "short", "--json").stdout)
    failed = [row["id"] for row in rows if row["status"] != "success"]
    assert len(failed) <= 1, failed
    for task_id in failed:
        assert info(pool, task_id)["reason"] == "lost"
    runs = {p.name: p.read_text() for p in marks.iterdir()}
    assert set(runs.values()) == {"x"}  # none ran twice
    assert len(runs) >= count - 1


def test_a_stopped_worker_gives_back_what_it_took_ahead(pool: Cli, module: Path) -> None:
    (first,) = start(pool, 1)
    pauses = ",".join(["0.02"] * 300)
    pool("bulk", "call", "jobs:sleep", "--data", f"s={pauses}", "--name", "many")
    wait_until(lambda: workers(pool)[first]["done"] >= 10, timeout=60)
    pool("worker", "stop")
    wait_until(lambda: workers(pool)[first]["state"] == "exited", timeout=30)
    assert 0 < bundle_counts(pool, "many").get("submitted", 0) < 300
    start(pool, 1)
    assert pool("bundle", "wait", "many", "--timeout", "120", timeout=180).code == 0
    assert bundle_counts(pool, "many") == {"success": 300}


def reaches(cli: Cli, task_id: str, wanted: str, timeout: float = 30) -> None:
    wait_until(lambda: status(cli, task_id) == wanted, timeout=timeout)


def running_pid(project: Root, task_id: str) -> int:
    """The process the task runs in, from the marker its worker wrote when it started it."""
    marker = read_markers(project, task_id).running
    assert marker is not None
    return marker.pid


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cancelling_a_running_task_stops_it_within_two_seconds_and_the_worker_goes_on(
    pool: Cli, project: Root, module: Path
) -> None:
    start(pool, 1)
    for command in (("task", "call", "jobs:sleep", "60"), ("task", "create", "--", "sleep", "60")):
        task_id = pool(*command).stdout.strip()  # one at a time: the worker runs one task
        reaches(pool, task_id, "running")
        pid = running_pid(project, task_id)
        assert not gone(pid)
        pool("task", "cancel", task_id)
        wait_until(functools.partial(gone, pid), timeout=2.0, interval=0.05)
        assert status(pool, task_id) == "cancelled"
        after = call(pool, "jobs:ident", "5")
        reaches(pool, after, "success")
        assert json.loads(pool("task", "result", after, "--json").stdout) == 5


def test_a_queued_task_cancelled_never_runs(pool: Cli, module: Path, tmp_path: Path) -> None:
    marks = tmp_path / "runs"
    queued = call(pool, "jobs:count", str(marks))
    pool("task", "cancel", queued)
    start(pool, 1)
    after = call(pool, "jobs:ident", "1")
    wait_until(lambda: status(pool, after) == "success", timeout=30)
    assert status(pool, queued) == "cancelled"
    assert not marks.exists()


def test_dependencies_run_in_order_and_a_failure_propagates(pool: Cli, module: Path) -> None:
    start(pool, 2)
    first = call(pool, "jobs:sleep", "1")
    second = pool("task", "call", "--depends-on", first, "jobs:ident", "2").stdout.strip()
    third = pool("task", "call", "--depends-on", second, "jobs:ident", "3").stdout.strip()
    assert pool("task", "wait", third, "--timeout", "60", timeout=90).code == 0
    times = [info(pool, t)["times"] for t in (first, second, third)]
    assert times[0]["finished"] <= times[1]["started"]
    assert times[1]["finished"] <= times[2]["started"]

    failing = call(pool, "jobs:boom")
    dependent = pool("task", "call", "--depends-on", failing, "jobs:ident", "1").stdout.strip()
    wait_until(lambda: status(pool, dependent) == "failure", timeout=30)
    assert status(pool, failing) == "failure"
    assert info(pool, dependent)["reason"] == "dependency failed"
    assert "ValueError: boom" in pool("task", "log", failing).stdout


def test_a_task_that_kills_its_process_fails_and_the_worker_survives(
    pool: Cli, module: Path
) -> None:
    (worker,) = start(pool, 1)
    crashed = call(pool, "jobs:crash")
    after = call(pool, "jobs:ident", "9")
    wait_until(lambda: status(pool, after) == "success", timeout=30)
    assert status(pool, crashed) == "failure"
    assert info(pool, crashed)["exit_code"] == 3
    assert workers(pool)[worker]["state"] in ("idle", "busy")


def test_an_idle_worker_exits_after_its_idle_timeout(pool: Cli, module: Path) -> None:
    (worker,) = start(pool, 1, idle="2s")
    wait_until(lambda: workers(pool)[worker]["state"] == "exited", timeout=30)
    assert status(pool, worker) == "success"  # the worker's own task ended well
    assert "idle for 2s, exiting" in pool("worker", "log", worker).stdout


def test_stop_when_idle_lets_the_queue_drain_first(pool: Cli, module: Path) -> None:
    (worker,) = start(pool, 1)
    pool("bulk", "call", "jobs:sleep", "--data", "s=0.2,0.2,0.2,0.2,0.2", "--name", "drain")
    pool("worker", "stop", "--when-idle")
    wait_until(lambda: workers(pool)[worker]["state"] == "exited", timeout=60)
    assert bundle_counts(pool, "drain") == {"success": 5}


def test_tasks_queued_with_no_worker_alive_warn(pool: Cli, module: Path) -> None:
    task_id = call(pool, "jobs:ident", "1")
    shown = pool("task", "status", task_id)
    assert shown.stdout.strip() == "submitted"
    assert "no worker is alive" in shown.stderr


def test_a_redis_that_cannot_be_reached_is_said_in_two_lines(cli: Cli, module: Path) -> None:
    from redis_testing import free_port

    cli("driver", "configure", "workers", f"redis_url=redis://127.0.0.1:{free_port()}")
    done = cli("task", "call", "jobs:ident", "1", check=False)
    assert done.code != 0
    assert "cannot reach the workers' Redis" in done.stderr
    assert "Traceback" not in done.output
    assert len(done.stderr.strip().splitlines()) <= 3


def test_after_redis_restarts_empty_every_task_runs_exactly_once(
    cli: Cli, module: Path, tmp_path: Path
) -> None:
    """Twice mid-run: rebuilt by hand with `worker requeue`, then by the next status check."""
    from redis_testing import RedisServer

    server = RedisServer(tmp_path / "own-redis")
    try:
        cli("driver", "configure", "workers", f"redis_url={server.url}", "heartbeat=0.5")
        start(cli, 2)
        marks = tmp_path / "marks"
        marks.mkdir()
        count = 300
        cli("bulk", "call", "jobs:mark", "--data", f"x=1..{count}", "--env", f"MARKS={marks}",
            "--name", "marked")  # fmt: skip
        wait_until(lambda: len(list(marks.iterdir())) >= 30, timeout=60)
        server.restart()  # every id still queued, every claim and heartbeat is gone
        again = cli("worker", "requeue")
        assert "Queued" in again.stdout

        wait_until(lambda: len(list(marks.iterdir())) >= 150, timeout=60)
        server.restart()
        shown = cli("bundle", "status", "marked", "--json")  # its status check rebuilds the queue
        assert sum(row["status"] == "success" for row in json.loads(shown.stdout)) < count
        assert "were queued again from the task files" in shown.stderr
        assert cli("bundle", "wait", "marked", "--timeout", "300", timeout=400).code == 0
        assert bundle_counts(cli, "marked") == {"success": count}
        runs = {p.name: p.read_text() for p in marks.iterdir()}
        assert runs == {str(x): "x" for x in range(1, count + 1)}  # each ran exactly once
        states = {w["state"] for w in workers(cli).values()}
        assert states <= {"idle", "busy"}  # both workers lived through it and registered again
    finally:
        server.stop()


def test_a_submission_after_redis_lost_its_data_queues_the_waiting_tasks_again(
    cli: Cli, module: Path, tmp_path: Path
) -> None:
    from redis_testing import RedisServer

    server = RedisServer(tmp_path / "own-redis")
    try:
        cli("driver", "configure", "workers", f"redis_url={server.url}", "heartbeat=0.5")
        first = cli("task", "call", "jobs:ident", "1")
        assert "queued again" not in first.stderr  # a Redis that never held the pool lost nothing
        waiting = [first.stdout.strip(), call(cli, "jobs:ident", "2"), call(cli, "jobs:ident", "3")]
        server.restart()
        later = cli("task", "call", "jobs:ident", "4")
        assert "3 tasks waiting to run were queued again" in later.stderr
        start(cli, 1)
        for value, task_id in enumerate([*waiting, later.stdout.strip()], start=1):
            assert cli("task", "wait", task_id, "--timeout", "60", timeout=90).code == 0
            assert json.loads(cli("task", "result", task_id, "--json").stdout) == value
    finally:
        server.stop()


def test_a_held_task_waits_and_cancelling_it_means_it_never_runs(pool: Cli, module: Path) -> None:
    start(pool, 1)
    held = pool("task", "create", "--hold-until", "1h", "--", "sh", "-c", "echo ran > ran.txt")
    task_id = held.stdout.strip()
    after = call(pool, "jobs:ident", "1")  # the worker passes the held task by
    reaches(pool, after, "success")
    assert status(pool, task_id) == "submitted"
    assert "held for the pool until" in pool("task", "log", "--outer", task_id).stdout
    assert json.loads(pool("task", "cancel", task_id, "--json").stdout) == {task_id: True}
    assert info(pool, task_id)["reason"] == "cancelled"
    assert not (pool.cwd / "ran.txt").exists()


def test_a_runner_killed_from_outside_is_lost_and_the_note_names_it(
    pool: Cli, project: Root, module: Path
) -> None:
    (worker,) = start(pool, 1)
    task_id = pool("task", "create", "--", "sleep", "600").stdout.strip()
    reaches(pool, task_id, "running")
    runner = running_pid(project, task_id)
    os.kill(runner, signal.SIGKILL)
    reaches(pool, task_id, "failure")
    lost = info(pool, task_id)
    assert lost["reason"] == "lost"
    assert str(runner) in lost["note"] and worker in lost["note"]
    after = call(pool, "jobs:ident", "2")  # the worker goes on
    reaches(pool, after, "success")


@pytest.mark.slow
def test_the_worker_stops_a_task_at_its_max_runtime_and_goes_on(pool: Cli, module: Path) -> None:
    start(pool, 1)
    task_id = pool("task", "call", "--max-runtime", "1", "jobs:sleep", "600").stdout.strip()
    reaches(pool, task_id, "running")
    began = time.monotonic()
    reaches(pool, task_id, "failure", timeout=120)
    assert 55 < time.monotonic() - began < 90
    assert info(pool, task_id)["reason"] == "timed out"
    after = call(pool, "jobs:ident", "3")
    reaches(pool, after, "success")
