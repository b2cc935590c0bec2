"""The local driver end to end, through the `hipercow` command as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import psutil
import pytest

from hipercow_core.drivers.local import Launch
from hipercow_core.root import Root
from hipercow_testing import BIN, Cli, daemon_pid, wait_until


def create(cli: Cli, *args: str) -> str:
    return cli("task", "create", *args).stdout.strip()


def launch_of(root: Root, task_id: str) -> Launch:
    path = root.task_dir(task_id) / "local.json"
    wait_until(path.exists)
    return msgspec.json.decode(path.read_bytes(), type=Launch)


def test_a_task_runs_and_its_log_shows_output(cli: Cli) -> None:
    task_id = create(cli, "--", "sh", "-c", "echo hi; sleep 1")
    assert len(task_id) == 32
    waited = cli("task", "wait", task_id, check=False)
    assert waited.code == 0, waited.output
    assert cli("task", "status", task_id).stdout.strip() == "success"
    assert cli("task", "log", task_id).stdout == "hi\n"
    info = json.loads(cli("task", "info", task_id, "--json").stdout)
    assert info["exit_code"] == 0
    assert info["ran_seconds"] >= 1.0
    assert info["times"]["started"] >= info["times"]["submitted"] >= info["times"]["created"]


def test_a_failing_task_keeps_its_exit_code(cli: Cli) -> None:
    task_id = create(cli, "--", "sh", "-c", "echo oops >&2; exit 3")
    assert cli("task", "wait", task_id, check=False).code != 0
    assert cli("task", "status", task_id).stdout.strip() == "failure"
    info = cli("task", "info", task_id).stdout
    assert "exit code  3" in info
    assert cli("task", "log", task_id).stdout == "oops\n"


def test_create_with_wait_exits_with_the_outcome(cli: Cli) -> None:
    ok = cli("task", "create", "--wait", "--", "true", check=False)
    assert ok.code == 0 and "success" in ok.stderr
    bad = cli("task", "create", "--wait", "--", "false", check=False)
    assert bad.code == 1 and "failure" in bad.stderr


def test_a_failed_wait_says_why_shows_the_log_tail_and_what_next(cli: Cli) -> None:
    script = "for i in $(seq 1 15); do echo line$i; done; exit 3"
    created = cli("task", "create", "--wait", "--", "sh", "-c", script, check=False)
    task_id = created.stdout.strip()
    assert created.code == 1
    lines = created.stderr.splitlines()
    assert lines[0] == f"Task {task_id}: failure (exit code 3)"
    assert lines[1] == "Last 10 line(s) of its log:"
    assert [line.strip() for line in lines[2:12]] == [f"line{i}" for i in range(6, 16)]
    assert lines[12] == f"The whole log: hipercow task log {task_id}"
    waited = cli("task", "wait", task_id, check=False)
    assert waited.code == 1 and waited.stderr == created.stderr

    silent = create(cli, "--", "false")
    quiet = cli("task", "wait", silent, check=False).stderr
    assert f"hipercow task log --outer {silent}" in quiet


def test_info_of_a_held_task_shows_the_time_it_resolved_to(cli: Cli) -> None:
    from datetime import datetime

    task_id = create(cli, "--hold-until", "midnight", "--", "true")
    info = json.loads(cli("task", "info", task_id, "--json").stdout)
    resolved = datetime.fromisoformat(info["times"]["not_before"]).astimezone()
    assert (resolved.hour, resolved.minute, resolved.second) == (0, 0, 0)
    text = cli("task", "info", task_id).stdout
    assert f"hold_until={resolved:%Y-%m-%d %H:%M:%S}" in text
    assert "{" not in text
    cli("task", "cancel", task_id)


def test_a_command_that_cannot_start_is_a_failure_that_says_so(cli: Cli) -> None:
    task_id = create(cli, "--", "no-such-command-here", "x")
    assert cli("task", "wait", task_id, check=False).code == 1
    log = cli("task", "log", task_id).stdout
    assert "no-such-command-here" in log and "not found" in log
    assert json.loads(cli("task", "info", task_id, "--json").stdout)["exit_code"] == 127


def test_working_directory_and_environment_variables(cli: Cli, project: Root) -> None:
    sub = project.project / "analysis"
    sub.mkdir()
    task_id = cli(
        "task",
        "create",
        "--env",
        "GREETING=hello there",
        "--",
        "sh",
        "-c",
        'pwd; echo "$GREETING"',
        cwd=sub,
    ).stdout.strip()
    assert cli("task", "wait", task_id, check=False).code == 0
    lines = cli("task", "log", task_id).stdout.splitlines()
    assert Path(lines[0]).resolve() == sub.resolve()
    assert lines[1] == "hello there"


def test_cancel_kills_the_whole_process_tree(cli: Cli, project: Root) -> None:
    task_id = create(cli, "--", "sh", "-c", "sleep 600 & sleep 600; wait")
    runner = launch_of(project, task_id)
    wait_until(lambda: cli("task", "status", task_id).stdout.strip() == "running")
    tree = [psutil.Process(runner.pid), *psutil.Process(runner.pid).children(recursive=True)]
    assert len([p for p in tree if p.name() == "sleep"]) == 2
    result = cli("task", "cancel", task_id)
    assert "cancelled" in result.stdout
    assert cli("task", "status", task_id).stdout.strip() == "cancelled"
    _, alive = psutil.wait_procs(tree, timeout=5)
    assert alive == []
    assert cli("task", "wait", task_id, check=False).code == 1
    again = cli("task", "cancel", task_id)
    assert "not cancelled" in again.stdout


def test_a_runner_killed_from_outside_is_lost(cli: Cli, project: Root) -> None:
    task_id = create(cli, "--", "sleep", "600")
    runner = launch_of(project, task_id)
    wait_until(lambda: cli("task", "status", task_id).stdout.strip() == "running")
    os.kill(runner.pid, signal.SIGKILL)
    wait_until(lambda: cli("task", "status", task_id).stdout.strip() == "failure", timeout=15)
    info = json.loads(cli("task", "info", task_id, "--json").stdout)
    assert info["status"] == "failure"
    assert info["reason"] == "lost"
    orphans = [
        p
        for p in psutil.process_iter(["cmdline", "cwd"])
        if p.info["cmdline"] == ["sleep", "600"] and p.info["cwd"] == str(project.project)
    ]
    assert orphans == []


def test_lost_is_found_by_a_status_check_even_without_the_daemon(cli: Cli, project: Root) -> None:
    task_id = create(cli, "--", "sleep", "600")
    runner = launch_of(project, task_id)
    daemon = daemon_pid(project)
    assert daemon is not None
    os.kill(daemon, signal.SIGKILL)
    os.kill(runner.pid, signal.SIGKILL)
    wait_until(lambda: cli("task", "status", task_id).stdout.strip() == "failure", timeout=15)
    assert json.loads(cli("task", "info", task_id, "--json").stdout)["reason"] == "lost"


def test_tasks_outlive_the_command_that_submitted_them(cli: Cli, project: Root) -> None:
    task_id = create(cli, "--", "sh", "-c", "sleep 2; echo done")
    # the `hipercow` process has exited; nothing is waiting on the task
    wait_until((project.task_dir(task_id) / "finished.json").exists, timeout=30)
    assert cli("task", "log", task_id).stdout == "done\n"


def test_at_most_max_cores_run_at_once(cli: Cli, project: Root) -> None:
    """A 2-core task runs alone on 2 cores; two 1-core tasks then run side by side.

    Each task checks by files, not clocks (a busy machine delays starts):
    the 2-core task fails if a 1-core one started while it ran, a 1-core one
    fails if the 2-core task had not finished, or if it never saw the other
    1-core task running beside it.
    """
    cli("driver", "configure", "local", "max_cores=2")
    big = "sleep 1; [ ! -e a.started ] && [ ! -e b.started ] && touch big.done"
    two_core = create(cli, "--cores", "2", "--", "sh", "-c", big)

    def single(me: str, other: str) -> str:
        return (
            f"[ -e big.done ] || exit 3; touch {me}.started; "
            f"for i in $(seq 300); do [ -e {other}.started ] && exit 0; sleep 0.1; done; exit 4"
        )

    singles = [
        create(cli, "--", "sh", "-c", single("a", "b")),
        create(cli, "--", "sh", "-c", single("b", "a")),
    ]
    for task_id in (two_core, *singles):
        result = cli("task", "wait", task_id, check=False)
        assert result.code == 0, cli("task", "info", task_id).stdout


def test_log_follow_streams_until_the_task_ends(cli: Cli) -> None:
    task_id = create(cli, "--", "sh", "-c", "echo one; sleep 1.5; echo two")
    follower = subprocess.Popen(
        [str(BIN / "hipercow"), "task", "log", "--follow", task_id],
        cwd=cli.cwd,
        env=cli.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    first = follower.stdout.readline()
    assert first == "one\n"
    assert follower.poll() is None, "follow returned before the task ended"
    rest = follower.stdout.read()
    assert follower.wait(timeout=30) == 0
    assert rest == "two\n"


def test_list_filters_and_last(cli: Cli) -> None:
    ok = create(cli, "--", "true")
    bad = create(cli, "--", "false")
    cli("task", "wait", ok)
    cli("task", "wait", bad, check=False)
    assert cli("task", "last").stdout.strip() == bad
    listed = json.loads(cli("task", "list", "--json").stdout)
    assert [t["id"] for t in listed] == [ok, bad]
    failures = cli("task", "list", "--status", "failure").stdout.split()
    assert failures[0] == bad and ok not in failures
    assert cli("task", "list", "--since", "1h").stdout.count("\n") == 2
    future = "2999-01-01"
    assert cli("task", "list", "--since", future).stdout == ""


def test_created_tasks_can_be_submitted_later(cli: Cli, project: Root) -> None:
    from hipercow_core.tasks import create_task

    task_id = create_task(project, ["echo", "later"], submit=False)
    assert cli("task", "status", task_id).stdout.strip() == "created"
    assert "Submitted 1 task" in cli("task", "submit").stdout
    assert cli("task", "wait", task_id, check=False).code == 0
    assert "Nothing to submit" in cli("task", "submit").stdout


def test_many_creators_at_once_make_distinct_tasks(cli: Cli, project: Root) -> None:
    code = (
        "import sys; from hipercow_core.root import Root; "
        "from hipercow_core.tasks import create_task; "
        "r = Root.find(); "
        "print('\\n'.join(create_task(r, ['true']) for _ in range(20)))"
    )
    go = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=project.project, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    ids = []
    for process in go:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        ids.extend(out.split())
    assert len(ids) == 80 and len(set(ids)) == 80
    for task_id in ids:
        assert cli("task", "wait", task_id, "--timeout", "120", check=False).code == 0, task_id
    assert len(json.loads(cli("task", "list", "--status", "success", "--json").stdout)) == 80


def test_cluster_info_describes_this_machine(cli: Cli) -> None:
    info = json.loads(cli("cluster", "info", "--json").stdout)
    assert info["driver"] == "local"
    assert info["max_cores"] == os.cpu_count()
    assert info["max_memory"] == psutil.virtual_memory().total // 1_000_000
    assert "cores" in cli("cluster", "info").stdout


@pytest.mark.parametrize("command", ["status", "info", "log", "wait", "cancel"])
def test_json_everywhere(cli: Cli, command: str) -> None:
    task_id = create(cli, "--", "true")
    cli("task", "wait", task_id)
    args = ["task", command, task_id]
    if command != "log":
        json.loads(cli(*args, "--json", check=False).stdout)


def daemons_started_by(me: psutil.Process) -> list[psutil.Process]:
    """This process's children that are local daemons (spares that exited count too)."""
    found = []
    for child in me.children():
        try:
            if "hipercow_core.drivers.local_daemon" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.ZombieProcess:
            found.append(child)  # exited already: only daemons are started here
        except psutil.NoSuchProcess:
            pass
    return found


def test_a_command_that_waits_starts_one_daemon_not_one_per_round(project: Root) -> None:
    """Waits call `ensure_daemon` every round; a daemon still starting is not started again."""
    from hipercow_core.drivers.local import ensure_daemon

    me = psutil.Process()
    try:
        for _ in range(5):  # faster than an interpreter starts and takes the daemon's lock
            ensure_daemon(project)
        assert len(daemons_started_by(me)) == 1
    finally:
        for daemon in daemons_started_by(me):
            daemon.kill()
            daemon.wait(10)


def test_a_daemon_started_ahead_runs_the_task_that_comes_or_idles_out(
    cli: Cli, project: Root
) -> None:
    """`expect_submission` (a provisioning command, before its checks) starts the daemon early."""
    from hipercow_core.drivers.local import daemon_running
    from hipercow_core.drivers.registry import expect_submission

    expect_submission(project)
    wait_until(lambda: daemon_running(project))
    task_id = create(cli, "--", "echo", "came later")
    cli("task", "wait", task_id)
    assert cli("task", "status", task_id).stdout.strip() == "success"
    assert "came later" in cli("task", "log", task_id).stdout

    expect_submission(project)  # and nothing is submitted: it goes by itself
    wait_until(lambda: not daemon_running(project), timeout=30)
