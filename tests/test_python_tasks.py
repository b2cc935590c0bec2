"""Python tasks: expressions, statements, scripts and calls, with their results.

The driver is a parameter: `local` here; the Slurm tests run the same cases
on the real cluster (tests/slurm/test_slurm_python_tasks.py).
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from hipercow_core import create_call_task, task_result, wait_task
from hipercow_core.pytasks import TaskFailedError
from hipercow_core.root import Root
from hipercow_testing import Cli

MODULE = """
import os

def add(a, b=0, scale=1):
    return (a + b) * scale

def describe(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs, "cwd": os.getcwd(), "v": os.environ.get("V")}

def boom(x):
    raise ValueError(f"bad value {x}")

def chatty():
    print("working...", flush=True)
    return "done"
"""


@pytest.fixture
def analysis(project: Root) -> Path:
    path = project.project / "analysis.py"
    path.write_text(MODULE)
    return path


def run(cli: Cli, *args: str) -> str:
    task_id = cli(*args).stdout.strip()
    cli("task", "wait", task_id, "--timeout", "300", check=False)
    return task_id


def result_json(cli: Cli, task_id: str) -> object:
    return json.loads(cli("task", "result", task_id, "--json").stdout)


def test_expression_value_is_the_result(cli: Cli) -> None:
    task_id = run(cli, "task", "create", "--python", "6 * 7")
    assert cli("task", "status", task_id).stdout.strip() == "success"
    assert cli("task", "result", task_id).stdout.strip() == "42"


def test_statements_then_final_expression(cli: Cli) -> None:
    code = "import math\nvalues = [math.sqrt(x) for x in (4, 9)]\nprint('computing', flush=True)\nvalues"
    task_id = run(cli, "task", "create", "--python", code)
    assert result_json(cli, task_id) == [2.0, 3.0]
    assert "computing" in cli("task", "log", task_id).stdout


def test_statements_without_a_final_expression_give_none(cli: Cli) -> None:
    task_id = run(cli, "task", "create", "--python", "x = 1")
    assert result_json(cli, task_id) is None


def test_script_with_arguments_runs_in_its_directory(cli: Cli, project: Root) -> None:
    sub = project.project / "scripts"
    sub.mkdir()
    (sub / "report.py").write_text(
        "import os, sys\nprint(sys.argv[1:], os.path.basename(os.getcwd()))\n"
    )
    task_id = cli(
        "task", "create", "--script", "report.py", "--", "--fast", "3", cwd=sub
    ).stdout.strip()
    assert cli("task", "wait", task_id, check=False).code == 0
    assert cli("task", "log", task_id).stdout.strip() == "['--fast', '3'] scripts"


def test_call_with_positional_keyword_and_json_arguments(cli: Cli, analysis: Path) -> None:
    task_id = run(cli, "task", "call", "analysis:add", "2", "3", "--kwarg", "scale=10")
    assert result_json(cli, task_id) == 50
    task_id = run(
        cli,
        "task",
        "call",
        "--env",
        "V=set",
        "analysis:describe",
        "1",
        "text",
        '"quoted"',
        "[1, 2]",
        "--kwarg",
        'opts={"a": null}',
        "--args-json",
        '{"n": 2.5}',
    )
    value = result_json(cli, task_id)
    assert isinstance(value, dict)
    assert value["args"] == [1, "text", "quoted", [1, 2]]
    assert value["kwargs"] == {"opts": {"a": None}, "n": 2.5}
    assert Path(value["cwd"]).resolve() == analysis.parent.resolve()
    assert value["v"] == "set"
    task_id = run(cli, "task", "call", "analysis:add", "--args-json", "[1, 2]")
    assert result_json(cli, task_id) == 3


def test_output_reaches_the_log(cli: Cli, analysis: Path) -> None:
    task_id = run(cli, "task", "call", "analysis:chatty")
    assert cli("task", "log", task_id).stdout == "working...\n"
    assert cli("task", "result", task_id).stdout.strip() == "done"


def test_a_task_that_raises(cli: Cli, analysis: Path) -> None:
    task_id = run(cli, "task", "call", "analysis:boom", "7")
    assert cli("task", "status", task_id).stdout.strip() == "failure"
    result = cli("task", "result", task_id, check=False)
    assert result.code == 1
    assert "ValueError: bad value 7" in result.stderr
    assert 'analysis.py", line 11, in boom' in result.stderr
    assert 'raise ValueError(f"bad value {x}")' in result.stderr
    log = cli("task", "log", task_id).stdout
    assert "Traceback" in log and "ValueError: bad value 7" in log
    error = json.loads(cli("task", "result", task_id, "--json", check=False).stdout)["error"]
    assert error["type"] == "ValueError" and error["message"] == "bad value 7"


def test_expression_errors_show_the_users_line(cli: Cli) -> None:
    task_id = run(cli, "task", "create", "--python", "x = 1\ny = x / 0")
    result = cli("task", "result", task_id, check=False)
    assert result.code == 1
    assert "ZeroDivisionError" in result.stderr
    assert "y = x / 0" in result.stderr


def test_shell_tasks_have_no_result(cli: Cli) -> None:
    task_id = run(cli, "task", "create", "--", "true")
    result = cli("task", "result", task_id, check=False)
    assert result.code == 1 and "no result" in result.stderr


@pytest.mark.parametrize(
    "value",
    [
        None,
        0,
        -12,
        2**70,
        1.5,
        float("nan"),
        float("inf"),
        float("-inf"),
        "",
        "text ünïcode",
        [1, "a", None, [2.5]],
        {"a": 1, "b": {"c": [None, float("nan")]}},
    ],
    ids=repr,
)
def test_plain_values_round_trip(project: Root, value: object) -> None:
    task_id = create_call_task(project, "builtins:list", [[value]], cwd=project.project)
    assert wait_task(project, task_id, timeout=120).value == "success"
    got = task_result(project, task_id)
    assert len(got) == 1
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(got[0])
    elif isinstance(value, dict) and "b" in value:
        assert got[0]["a"] == 1 and got[0]["b"]["c"][0] is None and math.isnan(got[0]["b"]["c"][1])
    else:
        assert got == [value]


def test_user_defined_class_through_cloudpickle(project: Root) -> None:
    class Interval:
        def __init__(self, low: float, high: float) -> None:
            self.low, self.high = low, high

        def width(self) -> float:
            return self.high - self.low

    def widen(interval: Interval, by: float) -> Interval:
        return Interval(interval.low - by, interval.high + by)

    task_id = create_call_task(
        project,
        widen,
        [Interval(1.0, 2.0)],
        {"by": 0.5},
        cwd=project.project,
        serialization="pickle",
    )
    assert wait_task(project, task_id, timeout=120).value == "success"
    got = task_result(project, task_id)
    assert type(got).__name__ == "Interval"
    assert (got.low, got.high, got.width()) == (0.5, 2.5, 2.0)


def test_api_result_of_a_task_that_raised(project: Root, analysis: Path) -> None:
    task_id = create_call_task(project, "analysis:boom", [1], cwd=project.project)
    wait_task(project, task_id, timeout=120)
    with pytest.raises(TaskFailedError) as e:
        task_result(project, task_id)
    assert e.value.error_type == "ValueError"
    assert "in boom" in e.value.traceback


def snapshot(root: Root) -> set[Path]:
    return set(root.path.rglob("*"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["task", "call", "nosuchmodule:f"], "cannot be imported"),
        (["task", "call", "analysis:nothere"], "not found in module 'analysis'"),
        (["task", "call", "analysis"], "module:function"),
        (["task", "call", "analysis:add", "--args-json", "[1,"], "not valid JSON"),
        (["task", "call", "analysis:add", "--args-json", "3"], "array or object"),
        (["task", "call", "analysis:add", "x" * 2_000, "--max-args-size", "1k"], "--max-args-size"),
        (["task", "create", "--python", "x = (1"], "does not parse"),
        (["task", "create", "--script", "missing.py"], "does not exist"),
        (["task", "create", "--script", "/etc/hostname"], "outside the project"),
    ],
)
def test_bad_python_tasks_create_nothing(
    cli: Cli, project: Root, analysis: Path, args: list[str], expected: str
) -> None:
    before = snapshot(project)
    result = cli(*args, check=False)
    assert result.code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, result.stderr
    assert "Traceback" not in result.output
    assert expected in result.stderr
    assert snapshot(project) == before


def test_oversized_argument_from_python_names_the_option(project: Root) -> None:
    from hipercow_core.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as e:
        create_call_task(project, "builtins:len", ["x" * 11_000_000], cwd=project.project)
    assert e.value.hint is not None and "max_args_size" in e.value.hint
    assert not list(project.tasks_dir.iterdir())


def test_module_with_import_side_effects_is_checked_in_a_separate_process(
    cli: Cli, project: Root
) -> None:
    (project.project / "noisy.py").write_text(
        textwrap.dedent("""
        import pathlib
        pathlib.Path("imported-marker").write_text("x")
        def f():
            return 1
    """)
    )
    task_id = run(cli, "task", "call", "noisy:f")
    assert result_json(cli, task_id) == 1
