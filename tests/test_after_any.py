"""`--after-any`: a task that runs once its dependencies have ended, whatever their outcome."""

from __future__ import annotations

import json

from hipercow_testing import Cli


def test_an_after_any_task_runs_after_a_bundle_with_a_failure(cli: Cli) -> None:
    cli(
        "bulk",
        "create",
        "--name",
        "sweep",
        "--data",
        "code=0,3",
        "--",
        "sh",
        "-c",
        "sleep 1; exit @code",
    )
    summary = cli(
        "task",
        "create",
        "--after-any",
        "sweep",
        "--",
        "sh",
        "-c",
        "echo collected",
    ).stdout.strip()
    strict = cli("task", "create", "--depends-on", "sweep", "--", "echo", "never").stdout.strip()
    assert cli("task", "wait", summary, "--timeout", "60", check=False).code == 0
    assert cli("task", "log", summary).stdout == "collected\n"
    statuses = json.loads(cli("bundle", "status", "sweep", "--json").stdout)
    assert sorted(t["status"] for t in statuses) == ["failure", "success"]
    info = json.loads(cli("task", "info", "--json", summary).stdout)
    bundle_ends = [
        json.loads(cli("task", "info", "--json", t["id"]).stdout)["times"]["finished"]
        for t in statuses
    ]
    assert info["times"]["started"] >= max(bundle_ends)
    assert cli("task", "wait", strict, "--timeout", "60", check=False).code == 1
    assert json.loads(cli("task", "info", "--json", strict).stdout)["reason"] == "dependency failed"
    shown = cli("task", "info", summary).stdout
    assert "after any" in shown


def test_after_any_of_a_finished_failure_runs_at_once(cli: Cli) -> None:
    failed = cli("task", "create", "--wait", "--", "false", check=False).stdout.strip()
    after = cli("task", "create", "--wait", "--after-any", failed, "--", "echo", "ok", check=False)
    assert after.code == 0, after.output


def test_after_any_of_an_unknown_task_is_refused(cli: Cli) -> None:
    refused = cli("task", "create", "--after-any", "0" * 32, "--", "true", check=False)
    assert refused.code == 1 and "does not exist" in refused.stderr
    assert cli("task", "list").stdout == ""
