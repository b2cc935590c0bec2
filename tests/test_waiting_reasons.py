"""Why a task is waiting, in words, on `local`: its place in the queue, a hold, dependencies."""

from __future__ import annotations

import json

from hipercow_core.root import Root
from hipercow_testing import Cli, wait_until


def info(cli: Cli, task_id: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(cli("task", "info", "--json", task_id).stdout)
    return found


def test_queued_tasks_say_why_they_wait(cli: Cli, project: Root) -> None:
    cli("driver", "configure", "local", "max_cores=1")
    busy = cli("task", "create", "--", "sleep", "60").stdout.strip()
    wait_until((project.task_dir(busy) / "running.json").exists, timeout=30)
    queued = cli("task", "create", "--", "true").stdout.strip()
    after = cli("task", "create", "--depends-on", queued, "--", "true").stdout.strip()
    held = cli("task", "create", "--hold-until", "2h", "--", "true").stdout.strip()
    assert info(cli, queued)["waiting_reason"] == (
        "number 1 of 3 in the local queue, waiting for free cores"
    )
    assert "waiting  number 1 of 3 in the local queue" in cli("task", "info", queued).stdout
    assert info(cli, after)["waiting_reason"] == "waiting for the tasks it depends on to finish"
    assert str(info(cli, held)["waiting_reason"]).startswith("held until ")
    assert "waiting_reason" not in info(cli, busy)
    cli("task", "cancel", busy, queued, after, held)


def test_bundle_status_shows_why_its_tasks_wait(cli: Cli, project: Root) -> None:
    cli("driver", "configure", "local", "max_cores=1")
    cli("bulk", "create", "--name", "b", "--data", "n=60,61", "--", "sleep", "@n")
    wait_until(
        lambda: any(
            t["status"] == "running"
            for t in json.loads(cli("bundle", "status", "b", "--json").stdout)
        ),
        timeout=30,
    )
    tasks = json.loads(cli("bundle", "status", "b", "--json").stdout)
    [waiting] = [t for t in tasks if t["status"] == "submitted"]
    assert waiting["waiting"] == "number 1 of 1 in the local queue, waiting for free cores"
    text = cli("bundle", "status", "b").stdout
    assert "(number 1 of 1 in the local queue, waiting for free cores)" in text
    cli("bundle", "cancel", "b")
