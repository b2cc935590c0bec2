"""Bad input: one or two lines that say what to do, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipercow_core.root import Root
from hipercow_testing import Cli


def snapshot(directory: Path) -> dict[str, int]:
    """Every file under the directory with its size: 'writes nothing' means this is unchanged."""
    return {str(p.relative_to(directory)): p.stat().st_size for p in directory.rglob("*")}


def assert_clean_error(result_output: str, code: int) -> None:
    assert code != 0
    lines = [line for line in result_output.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, result_output
    assert "Traceback" not in result_output
    assert lines[0].startswith("Error:")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["task", "status", "0123456789abcdef0123456789abcdef"], None),
        (["task", "info", "0123456789abcdef0123456789abcdef"], "does not exist"),
        (["task", "log", "0123456789abcdef0123456789abcdef"], "does not exist"),
        (["task", "status", "../../etc"], "not a task id"),
        (["task", "info", "../../etc"], "not a task id"),
        (["task", "create", "--cores", "0", "--", "true"], "cores"),
        (["task", "create", "--memory-per-node", "4X", "--", "true"], "memory_per_node"),
        (["task", "create", "--max-runtime", "soon", "--", "true"], "max_runtime"),
        (["task", "create", "--cores", "100000", "--", "true"], "--cores 100000 is more than"),
        (["task", "create", "--hold-until", "2001-01-01", "--", "true"], "in the past"),
        (["task", "create", "--priority", "urgent", "--", "true"], "priority"),
        (["task", "create", "--env", "NOEQUALS", "--", "true"], "NAME=VALUE"),
        (["task", "create", "--env", "1BAD=x", "--", "true"], "environment variable"),
        (["task", "create", "--driver", "nosuchdriver", "--", "true"], "unknown driver"),
        (["driver", "configure", "nosuchdriver"], "unknown driver"),
        (
            ["driver", "configure", "local", "max_cores=lots"],
            "max_cores=lots is not a whole number",
        ),
        (["driver", "configure", "local", "cores=2"], "it has no option 'cores'"),
        (["task", "list", "--status", "finished"], "not a task status"),
        (["task", "list", "--since", "yesterday-ish"], "--since"),
    ],
)
def test_bad_input_is_reported_briefly_and_writes_nothing(
    cli: Cli, project: Root, args: list[str], expected: str | None
) -> None:
    before = snapshot(project.path)
    result = cli(*args, check=False)
    if expected is None:
        # an unknown (well-formed) id is simply missing, and says so
        assert result.code == 1
        assert result.stdout.strip() == "missing"
        assert "in this root" in result.stderr and "'hipercow task list'" in result.stderr
    else:
        assert_clean_error(result.output, result.code)
        assert expected in result.output
    assert snapshot(project.path) == before


def test_no_root(tmp_path: Path) -> None:
    result = Cli(tmp_path)("task", "list", check=False)
    assert_clean_error(result.output, result.code)
    assert "hipercow init" in result.output
    assert list(tmp_path.iterdir()) == []


def test_unknown_command_is_a_usage_error(cli: Cli) -> None:
    result = cli("task", "frobnicate", check=False)
    assert result.code == 2
    assert "Traceback" not in result.output


def test_traceback_only_when_asked(cli: Cli) -> None:
    cli.env["HIPERCOW_TRACEBACK"] = "1"
    result = cli("task", "info", "../../etc", check=False)
    assert result.code != 0
    assert "Traceback" in result.stderr


def test_verbose_shows_debug_logging(cli: Cli) -> None:
    result = cli("-v", "task", "create", "--", "true")
    assert "created tasks" in result.stderr
    assert len(result.stdout.strip()) == 32


def test_help_lists_commands_in_a_natural_order(cli: Cli) -> None:
    text = cli("--help").stdout
    positions = [text.index(f" {name} ") for name in ("init", "driver", "cluster", "task")]
    assert positions == sorted(positions)
    task_help = cli("task", "--help").stdout
    order = [
        task_help.index(f" {name} ")
        for name in ("create", "submit", "status", "info", "log", "wait", "cancel", "list", "last")
    ]
    assert order == sorted(order)


def test_a_mistyped_command_gets_one_suggestion(cli: Cli) -> None:
    result = cli("task", "wiat", check=False)
    assert result.code == 2
    assert result.stderr.count("Did you mean 'wait'?") == 1


def test_counts_agree_with_their_nouns(cli: Cli) -> None:
    created = cli("bulk", "create", "--repeat", "1", "--", "true").stdout
    assert "with 1 task" in created and "1 tasks" not in created
    task_id = cli("task", "create", "--cores", "1", "--", "true").stdout.strip()
    cli("task", "wait", task_id)
    outer = cli("task", "log", "--outer", task_id).stdout
    assert "(1 core" in outer and "1 cores" not in outer
