"""Outcomes that must be right, and work that must stay bounded.

A Python task that ends without its result is a failure; a result whose
class this process cannot import is named; a runaway log is capped; a huge
result is summarised; logs keep their bytes; a bulk creation is counted
before it is built; a hold time beyond reach writes nothing.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from hipercow_core.root import Root
from hipercow_testing import BIN, Cli


def run(cli: Cli, *args: str) -> str:
    task_id = cli(*args).stdout.strip()
    cli("task", "wait", task_id, "--timeout", "120", check=False)
    return task_id


def info(cli: Cli, task_id: str) -> dict[str, object]:
    return json.loads(cli("task", "info", task_id, "--json").stdout)  # type: ignore[no-any-return]


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# 6. The outcome of a Python task is what happened to it.


def test_a_call_that_exits_before_its_result_is_a_failure(cli: Cli, project: Root) -> None:
    (project.project / "quitter.py").write_text("import os\n\ndef go():\n    os._exit(0)\n")
    task_id = run(cli, "task", "call", "quitter:go")
    details = info(cli, task_id)
    assert details["status"] == "failure"
    assert details["reason"] == "ended without a result"
    result = cli("task", "result", task_id, check=False)
    assert result.code == 1 and "ended without a result" in result.stderr
    assert "This is a bug" not in result.output


def test_a_script_that_exits_cleanly_succeeds(cli: Cli, project: Root) -> None:
    (project.project / "clean.py").write_text("import sys\nprint('bye')\nsys.exit(0)\n")
    task_id = run(cli, "task", "create", "--script", "clean.py")
    assert cli("task", "status", task_id).stdout.strip() == "success"


def test_a_result_whose_class_cannot_be_imported_names_the_module(cli: Cli, project: Root) -> None:
    (project.project / "shapes.py").write_text(
        "class Square:\n    side = 2\n\ndef make():\n    return Square()\n"
    )
    task_id = run(cli, "task", "call", "shapes:make")
    assert cli("task", "status", task_id).stdout.strip() == "success"
    (project.project / "shapes.py").unlink()
    result = cli("task", "result", task_id, check=False)
    assert result.code == 1
    assert "This is a bug" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and "'shapes'" in lines[0]


# 13. Sizes: the log is capped, large results are summarised, bytes are kept.


def test_a_runaway_log_is_capped_with_a_marker(cli: Cli, project: Root) -> None:
    task_id = run(
        cli, "task", "create", "--max-log-size", "100k", "--", "sh", "-c", "yes | head -c 5000000"
    )
    assert cli("task", "status", task_id).stdout.strip() == "success"
    log = project.task_dir(task_id) / "log"
    size = log.stat().st_size
    assert 100_000 <= size < 101_000
    assert log.read_bytes().rstrip().endswith(b"output truncated at 100000 bytes (max_log_size)")
    assert info(cli, task_id)["log_truncated"] is True
    assert "truncated" in cli("task", "info", task_id).stdout


def test_a_short_log_is_whole_and_not_marked(cli: Cli, project: Root) -> None:
    task_id = run(cli, "task", "create", "--", "echo", "hello")
    assert cli("task", "log", task_id).stdout == "hello\n"
    assert info(cli, task_id).get("log_truncated", False) is False


def test_a_large_result_is_summarised_and_written_whole_on_request(cli: Cli, project: Root) -> None:
    task_id = run(cli, "task", "create", "--python", "list(range(300_000))")
    shown = cli("task", "result", task_id).stdout
    assert len(shown) < 1000
    assert shown.startswith("list (") and "[0, 1, 2" in shown and "--output FILE" in shown
    target = project.project / "value.json"
    cli("task", "result", task_id, "--output", str(target))
    assert json.loads(target.read_text()) == list(range(300_000))


def test_logs_keep_bytes_that_are_not_utf8(cli: Cli, project: Root) -> None:
    task_id = run(cli, "task", "create", "--", "printf", "caf\\351\\n")
    for args in (["task", "log", task_id], ["task", "log", "--follow", task_id]):
        done = subprocess.run(
            [str(BIN / "hipercow"), *args],
            cwd=project.project,
            env=cli.env,
            capture_output=True,
            check=True,
            timeout=60,
        )
        assert done.stdout == b"caf\xe9\n", args


# 7. A bulk creation is counted before it is built.


def test_a_huge_preview_is_quick_and_shows_the_count(cli: Cli, project: Root) -> None:
    start = time.monotonic()
    result = cli("bulk", "create", "--preview", "--data", "x=1..99999999999", "--", "echo", "@x")
    assert time.monotonic() - start < 10
    lines = result.stdout.splitlines()
    assert lines[:3] == ["echo 1", "echo 2", "echo 3"]
    assert lines[-1] == "echo 99999999999"
    assert "99,999,999,999 tasks" in result.stderr and "limit" in result.stderr


def test_too_many_tasks_are_refused_before_anything_is_built(cli: Cli, project: Root) -> None:
    before = listing(project.path)
    start = time.monotonic()
    result = cli(
        "bulk",
        "create",
        "--data",
        "x=1..3000",
        "--data",
        "y=1..3000",
        "--",
        "e",
        "@x",
        "@y",
        check=False,
    )
    assert time.monotonic() - start < 10
    assert result.code == 1 and "9,000,000 tasks" in result.stderr
    assert "--max-tasks" in result.stderr
    assert listing(project.path) == before


def test_the_limit_can_be_raised(cli: Cli, project: Root) -> None:
    refused = cli(
        "bulk", "create", "--max-tasks", "2", "--data", "x=1..3", "--", "echo", "@x", check=False
    )
    assert refused.code == 1
    cli("bulk", "create", "--max-tasks", "3", "--no-submit", "--data", "x=1..3", "--", "echo", "@x")
    assert len(cli("task", "list").stdout.splitlines()) == 3


# 8. Everything is validated before anything is written.


def test_a_hold_beyond_reach_writes_nothing(cli: Cli, project: Root) -> None:
    before = listing(project.path)
    result = cli("task", "create", "--hold-until", "99999999d", "--", "true", check=False)
    assert result.code == 1 and "hold_until" in result.stderr
    assert "This is a bug" not in result.output
    assert listing(project.path) == before
