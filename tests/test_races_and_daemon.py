"""The local daemon outlives anything done to one task, and races end with one clear answer.

The daemon is watched through the files it writes (never through `hipercow`
commands, which would restart a dead daemon and hide the failure).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from hipercow_core.root import Root
from hipercow_testing import BIN, Cli, daemon_pid, wait_until


def gated(cli: Cli, gate: Path, *, counter: Path | None = None) -> str:
    """A task that runs until `gate` exists (counting its starts in `counter`)."""
    count = f"echo start >> {counter}; " if counter else ""
    script = f"{count}while [ ! -e {gate} ]; do sleep 0.1; done"
    return cli("task", "create", "--", "sh", "-c", script).stdout.strip()


def finished(root: Root, task_id: str) -> str | None:
    path = root.task_dir(task_id) / "finished.json"
    return json.loads(path.read_text())["status"] if path.exists() else None


def status(cli: Cli, task_id: str) -> str:
    return cli("task", "status", task_id, check=False).stdout.strip()


# 2. The daemon survives anything that happens to one task.


def test_a_corrupt_queue_entry_does_not_stop_the_daemon(cli: Cli, project: Root) -> None:
    cli("driver", "configure", "local", "max_cores=1")
    gate = project.project / "gate"
    first = gated(cli, gate)
    second = cli("task", "create", "--", "true").stdout.strip()
    wait_until(lambda: status(cli, first) == "running")
    queue = project.path / "local" / os.uname().nodename / "queue"
    if not queue.is_dir():
        queue = next(project.path.glob("local/*/queue"))
    (queue / ("f" * 32)).write_bytes(b"\x00 not an entry")
    time.sleep(0.5)  # the daemon polls every 0.1 s: give it rounds to read the entry
    gate.touch()
    wait_until(lambda: finished(project, second) == "success", timeout=30)
    assert "f" * 32 in (queue.parent / "daemon.log").read_text()


def test_a_task_deleted_under_the_daemon_does_not_stop_it(cli: Cli, project: Root) -> None:
    cli("driver", "configure", "local", "max_cores=1")
    gate = project.project / "gate"
    doomed = gated(cli, gate)
    after = cli("task", "create", "--", "true").stdout.strip()
    wait_until(lambda: status(cli, doomed) == "running")
    launch = json.loads((project.task_dir(doomed) / "local.json").read_text())
    runner = psutil.Process(launch["pid"])
    children = runner.children(recursive=True)
    subprocess.run(["rm", "-rf", str(project.task_dir(doomed))], check=True)
    Path(str(project.task_dir(doomed)) + ".json").unlink()
    os.kill(launch["pid"], signal.SIGKILL)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):  # it may end with its runner
            child.kill()
    wait_until(lambda: finished(project, after) == "success", timeout=30)


def test_a_dead_daemon_is_restarted_by_the_next_command_that_needs_it(
    cli: Cli, project: Root
) -> None:
    cli("driver", "configure", "local", "max_cores=1")
    gate = project.project / "gate"
    first = gated(cli, gate)
    second = cli("task", "create", "--", "true").stdout.strip()
    wait_until(lambda: status(cli, first) == "running")
    pid = daemon_pid(project)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie")
    gate.touch()
    wait_until(lambda: finished(project, first) == "success", timeout=30)
    assert cli("task", "wait", second, "--timeout", "60").code == 0


# 11. Races end with one clear answer.


def test_concurrent_retries_make_one_retry_and_tell_the_others(cli: Cli, project: Root) -> None:
    # The retries fail slowly, so a racer that comes late finds the winner's retry unfinished.
    slow = ["sh", "-c", "sleep 3; false"]
    original = cli("task", "create", "--wait", "--", *slow, check=False).stdout.strip()
    racers = [
        subprocess.Popen(
            [str(BIN / "hipercow"), "task", "retry", original],
            cwd=project.project,
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    answers = [(r.wait(60), *r.communicate()) for r in racers]
    winners = [out for code, out, _ in answers if code == 0 and "->" in out]
    assert len(winners) == 1, answers
    retry = winners[0].split("->")[1].strip()
    for code, out, err in answers:
        if "->" not in out:
            assert code == 1, (code, out, err)
            assert retry in err, err
            assert "This is a bug" not in err
    last = cli("task", "last").stdout.strip()
    assert cli("task", "status", "--no-follow", last).stdout.strip() != "missing"
    assert len(cli("task", "list").stdout.splitlines()) == 2


def test_a_task_submitted_but_not_queued_is_queued_again_not_lost(cli: Cli, project: Root) -> None:
    cli("driver", "configure", "local", "max_cores=1")
    gate = project.project / "gate"
    first = gated(cli, gate)
    second = cli("task", "create", "--", "true").stdout.strip()
    wait_until(lambda: status(cli, first) == "running")
    entry = next(project.path.glob(f"local/*/queue/{second}"))
    entry.unlink()  # as if the submitter died between the marker and the queue
    assert status(cli, second) == "submitted"
    gate.touch()
    assert cli("task", "wait", second, "--timeout", "60").code == 0
    assert status(cli, second) == "success"


def test_a_task_whose_directory_vanishes_while_it_runs_is_not_run_twice(
    cli: Cli, project: Root
) -> None:
    gate = project.project / "gate"
    counter = project.project / "starts"
    task_id = gated(cli, gate, counter=counter)
    wait_until(lambda: status(cli, task_id) == "running")
    subprocess.run(["rm", "-rf", str(project.task_dir(task_id))], check=True)
    wait_until(lambda: status(cli, task_id) == "running", timeout=10)
    submitted = cli("task", "submit", "--json")
    assert json.loads(submitted.stdout)["submitted"] == []
    gate.touch()
    assert cli("task", "wait", task_id, "--timeout", "60").code == 0
    assert counter.read_text().count("start") == 1
