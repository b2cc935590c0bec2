"""Automatic retries on `local`: a task whose runner is lost retries itself, scaled, linked."""

from __future__ import annotations

import json

from hipercow_testing import Cli

# The first attempt kills its own runner (so the task is 'lost'); the retry succeeds.
LOSE_ONCE = "if [ -e tried ]; then echo second; else touch tried; kill -9 $PPID; sleep 5; fi"


def test_a_lost_task_retries_itself_and_wait_follows_the_chain(cli: Cli) -> None:
    first = cli(
        "task",
        "create",
        "--retries",
        "2",
        "--memory-per-task",
        "100M",
        "--retry-scale",
        "memory=2",
        "--",
        "sh",
        "-c",
        LOSE_ONCE,
    ).stdout.strip()
    waited = cli("task", "wait", first, "--timeout", "90", check=False)
    assert waited.code == 0, waited.output
    info = json.loads(cli("task", "info", "--json", first).stdout)
    assert [a["status"] for a in info["attempts"]] == ["failure", "success"]
    assert info["attempts"][0]["reason"] == "lost"
    retry = info["attempts"][1]["id"]
    data = json.loads(cli("task", "info", "--json", retry).stdout)["data"]
    assert data["retry_of"] == first
    assert data["resources"]["memory_per_task"] == 200
    assert data["retry_policy"]["retries"] == 1
    assert cli("task", "log", first).stdout == "second\n"
    shown = cli("task", "info", first).stdout
    assert f"failure (lost) → retried as {retry}: success" in shown


def test_bundle_wait_counts_a_task_done_only_at_the_end_of_its_chain(cli: Cli) -> None:
    cli(
        "bulk",
        "create",
        "--name",
        "b",
        "--retries",
        "1",
        "--data",
        "d=x,y",
        "--",
        "sh",
        "-c",
        "mkdir -p @d && cd @d && " + LOSE_ONCE,
    )
    waited = cli("bundle", "wait", "b", "--timeout", "120", check=False)
    assert waited.code == 0, waited.output
    statuses = json.loads(cli("bundle", "status", "b", "--json").stdout)
    assert [t["status"] for t in statuses] == ["success", "success"]


def test_without_retries_left_a_lost_task_stays_lost(cli: Cli) -> None:
    task_id = cli("task", "create", "--retries", "0", "--", "sh", "-c", LOSE_ONCE).stdout.strip()
    assert cli("task", "wait", task_id, "--timeout", "60", check=False).code == 1
    info = json.loads(cli("task", "info", "--json", task_id).stdout)
    assert info["reason"] == "lost" and info["retry_chain"] == [task_id]


def test_bad_retry_options_are_refused(cli: Cli) -> None:
    for args, said in (
        (["--retry-on", "timeout"], "--retry-on and --retry-scale need --retries"),
        (["--retries", "1", "--retry-on", "sometimes"], "--retry-on 'sometimes' is not a reason"),
        (["--retries", "1", "--retry-scale", "memory=0.5"], "--retry-scale 'memory=0.5'"),
    ):
        refused = cli("task", "create", *args, "--", "true", check=False)
        assert refused.code == 1 and said in refused.stderr, refused.output
        assert "Traceback" not in refused.output
    assert cli("task", "list").stdout == ""
