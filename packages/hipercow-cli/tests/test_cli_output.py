"""The CLI's rendering helpers: errors, durations, JSON of results, wide tables when piped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hipercow_cli import output
from hipercow_cli.errors import report
from hipercow_cli_testing import Run
from hipercow_core.errors import InvalidInputError


def test_a_hipercow_error_is_its_message_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code = report(InvalidInputError("the thing is wrong", "Do it differently."))
    assert code == 1
    assert capsys.readouterr().err == "Error: the thing is wrong\n  Do it differently.\n"


def test_anything_else_is_reported_as_a_bug(capsys: pytest.CaptureFixture[str]) -> None:
    code = report(KeyError("oops"))
    assert code == 70
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "Error: unexpected KeyError: 'oops'",
        "  This is a bug in hipercow; set HIPERCOW_TRACEBACK=1 to see the traceback.",
    ]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.25, "0.2s"), (59.9, "59.9s"), (61, "1m01s"), (3600 + 62, "1h01m02s"), (None, "-")],
)
def test_durations_read_naturally(seconds: float | None, shown: str) -> None:
    assert output.show_seconds(seconds) == shown
    value = None if seconds is None else timedelta(seconds=seconds)
    assert output.show_duration(value) == shown


def test_results_that_json_cannot_hold(capsys: pytest.CaptureFixture[str]) -> None:
    output.emit_json_value({"x": float("nan"), "y": [1, float("inf")]})
    assert capsys.readouterr().out.split() == [
        "{",
        '"x":',
        '"nan",',
        '"y":',
        "[",
        "1,",
        '"inf"',
        "]",
        "}",
    ]
    with pytest.raises(InvalidInputError, match="the result is a set, which has no JSON form"):
        output.emit_json_value({1, 2})


def test_a_piped_table_keeps_whole_lines(piped: Run) -> None:
    long_name = "a-rather-long-environment-name-" + "x" * 33  # 64 characters, the most
    assert piped("environment", "new", long_name, "--engine", "empty").code == 0
    lines = piped("environment", "list").stdout.splitlines()
    assert any(line.startswith(long_name) and line.split()[1] == "empty" for line in lines)
