"""`hipercow bulk ...` and `hipercow bundle ...`: made together, followed together."""

from __future__ import annotations

import json
import re

from hipercow_cli_testing import Run
from hipercow_core.root import Root

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def test_bulk_create_then_wait_draws_a_progress_bar(terminal: Run) -> None:
    made = terminal("bulk", "create", "--name", "squares", "--data", "x=1..3", "--", "echo", "@x")
    assert made.stdout == "\x1b[32m✔\x1b[0m Created bundle 'squares' with 3 tasks\n"
    done = terminal("bundle", "wait", "squares")
    assert done.code == 0
    # The bar was drawn (label and count), then replaced by the final counts.
    assert "Bundle squares" in done.stderr and "/3" in plain(done.stderr)
    assert done.stderr.endswith("Bundle squares: 3 \x1b[32msuccess\x1b[0m\n")
    listed = plain(terminal("bundle", "list").stdout)
    assert re.match(r"squares\s+\S+ \S+\s+3 tasks  3 success\n", listed)


def test_bundle_status_summaries_and_logs_of_failures(piped: Run) -> None:
    piped("bulk", "create", "--name", "mixed", "--data", "code=0,3", "--", "sh", "-c", "exit @code")
    assert piped("bundle", "wait", "mixed").code == 1
    assert json.loads(
        piped("bundle", "status", "mixed", "--summary", "counts", "--json").stdout
    ) == {
        "success": 1,
        "failure": 1,
    }
    assert piped("bundle", "status", "mixed", "--summary", "worst").stdout == "failure\n"
    each = json.loads(piped("bundle", "status", "mixed", "--json").stdout)
    assert [t["status"] for t in each] == ["success", "failure"]
    logs = piped("bundle", "log", "mixed", "--failed").stdout
    assert logs.count("==> ") == 1 and f"==> {each[1]['id']} (failure) code=3 <==" in logs
    bad = piped("bundle", "status", "mixed", "--summary", "most")
    assert bad.code == 1 and "--summary 'most' is not known" in bad.stderr


def test_bundle_retry_retries_only_the_failures_and_status_follows(piped: Run) -> None:
    piped("bulk", "create", "--name", "flaky", "--data", "code=0,1", "--", "sh", "-c", "exit @code")
    piped("bundle", "wait", "flaky")
    retried = json.loads(piped("bundle", "retry", "flaky", "--json").stdout)
    each = json.loads(piped("bundle", "status", "flaky", "--no-follow", "--json").stdout)
    assert list(retried) == [each[1]["id"]]
    assert piped("bundle", "retry", "flaky", "--status", "running").code == 1
    piped("bundle", "wait", "flaky")
    followed = json.loads(piped("task", "status", each[1]["id"], "--json").stdout)
    assert followed == {"id": each[1]["id"], "status": "failure"}
    text = piped("bundle", "retry", "flaky", "--status", "success").stdout
    assert text == "✔ Retried 1 of 2 tasks in bundle 'flaky'\n"


def test_a_taken_bundle_name_creates_nothing(piped: Run, project: Root) -> None:
    assert piped("bulk", "create", "--name", "once", "--data", "x=1", "--", "echo", "@x").code == 0
    before = task_ids(piped)
    again = piped("bulk", "create", "--name", "once", "--data", "x=1..5", "--", "echo", "@x")
    assert again.code == 1
    assert "a bundle called 'once' already exists" in again.stderr
    assert task_ids(piped) == before  # (the first task may have run meanwhile)


def task_ids(piped: Run) -> list[str]:
    return sorted(task["id"] for task in json.loads(piped("task", "list", "--json").stdout))


def test_bad_bulk_input_leaves_no_bundle_behind(piped: Run, project: Root) -> None:
    done = piped(
        "bulk",
        "create",
        "--name",
        "broken",
        "--data",
        "x=1..3",
        "--env",
        "1X=2",
        "--",
        "echo",
        "@x",
    )
    assert done.code == 1
    assert piped("bundle", "list", "--json").stdout.strip() == "[]"
    assert not (project.path / "bundles" / "broken.json").exists()


def test_preview_shows_the_commands_and_creates_nothing(piped: Run) -> None:
    done = piped("bulk", "create", "--preview", "--data", "n=1..10", "--", "fit", "--n", "@n")
    assert done.stdout.splitlines() == [
        "fit --n 1",
        "fit --n 2",
        "fit --n 3",
        "... 4 more ...",
        "fit --n 8",
        "fit --n 9",
        "fit --n 10",
    ]
    assert done.stderr == "10 tasks would be created (nothing was)\n"
    assert piped("task", "list").stdout == ""


def test_bundle_cancel_stops_what_has_not_finished(piped: Run) -> None:
    piped("bulk", "create", "--name", "slow", "--data", "s=30,31", "--", "sleep", "@s")
    done = piped("bundle", "cancel", "slow")
    assert done.stdout == "Cancelled 2 of 2 tasks in bundle 'slow'\n"
    assert piped("bundle", "status", "slow", "--summary", "worst").stdout == "cancelled\n"
