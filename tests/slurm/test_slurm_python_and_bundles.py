"""Python tasks, bundles, retries, dependencies and purge on the real Slurm cluster."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from slurm.helpers import User, scontrol_job

from hipercow_core.store import task_exists

pytestmark = pytest.mark.slurm

MODULE = """
def add(a, b=0, scale=1):
    return (a + b) * scale

def describe(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}

def boom(x):
    raise ValueError(f"bad value {x}")
"""


def finish(slurm: User, task_id: str) -> int:
    return slurm.cli("task", "wait", task_id, "--timeout", "180", check=False, timeout=240).code


def result(slurm: User, task_id: str) -> object:
    return json.loads(slurm.cli("task", "result", task_id, "--json").stdout)


def test_every_kind_of_python_task_runs_on_a_node(slurm: User) -> None:
    (slurm.root.project / "analysis.py").write_text(MODULE)
    (slurm.root.project / "report.py").write_text("import sys\nprint('args', sys.argv[1:])\n")
    expression = slurm.create("--python", "6 * 7")
    statements = slurm.create("--python", "import math\nx = [math.sqrt(4), float('nan')]\nx")
    script = slurm.create("--script", "report.py", "--", "--fast", "3")
    call = slurm.cli("task", "call", "analysis:add", "2", "3", "--kwarg", "scale=10").stdout.strip()
    json_call = slurm.cli(
        "task", "call", "analysis:describe", "1", "text", "--args-json", '{"n": [1, 2]}'
    ).stdout.strip()
    raises = slurm.cli("task", "call", "analysis:boom", "7").stdout.strip()

    for task_id in (expression, statements, script, call, json_call):
        assert finish(slurm, task_id) == 0, slurm.cli("task", "log", task_id).stdout
    assert result(slurm, expression) == 42
    assert slurm.cli("task", "result", statements).stdout.strip() == "[2.0, nan]"
    assert slurm.cli("task", "log", script).stdout == "args ['--fast', '3']\n"
    assert result(slurm, call) == 50
    assert result(slurm, json_call) == {"args": [1, "text"], "kwargs": {"n": [1, 2]}}
    assert scontrol_job(slurm.info(call)["job_id"])["JobState"] == "COMPLETED"

    assert finish(slurm, raises) == 1
    failed = slurm.cli("task", "result", raises, check=False)
    assert failed.code == 1
    assert "ValueError: bad value 7" in failed.stderr
    assert 'analysis.py", line 9, in boom' in failed.stderr


def test_retry_only_the_failed_tasks_of_a_bundle(slurm: User) -> None:
    slurm.cli(
        "bulk",
        "create",
        "--name",
        "mixed",
        "--data",
        "x=1..4",
        "--",
        "sh",
        "-c",
        "test @x -ne 2 && test @x -ne 4 || test -e retried-@x",
    )
    assert (
        slurm.cli("bundle", "wait", "mixed", "--timeout", "180", check=False, timeout=240).code == 1
    )
    counts = json.loads(
        slurm.cli("bundle", "status", "mixed", "--summary", "counts", "--json").stdout
    )
    assert counts == {"success": 2, "failure": 2}
    for x in (2, 4):
        (slurm.root.project / f"retried-{x}").write_text("")
    retried = json.loads(slurm.cli("bundle", "retry", "mixed", "--json").stdout)
    assert len(retried) == 2
    assert (
        slurm.cli("bundle", "wait", "mixed", "--timeout", "180", check=False, timeout=240).code == 0
    )
    counts = json.loads(
        slurm.cli("bundle", "status", "mixed", "--summary", "counts", "--json").stdout
    )
    assert counts == {"success": 4}
    for new in retried.values():
        assert slurm.info(new)["job_id"] is not None


def test_a_chain_of_three_and_a_failure_that_propagates(slurm: User) -> None:
    out = slurm.root.project / "order.txt"
    go = slurm.root.project / "go"
    # the first task waits for a file, so its dependents are surely still
    # pending when Slurm is asked about them, however loaded the machine is
    wait_for_go = f"while [ ! -f {go} ]; do sleep 0.2; done; echo first >> {out}"
    first = slurm.create("--", "sh", "-c", wait_for_go)
    second = slurm.create("--depends-on", first, "--", "sh", "-c", f"echo second >> {out}")
    third = slurm.create("--depends-on", second, "--", "sh", "-c", f"echo third >> {out}")
    second_job = slurm.info(second)["job_id"]
    dependency = scontrol_job(slurm.info(third)["job_id"]).get("Dependency", "")
    assert dependency.startswith(f"afterok:{second_job}")
    go.write_text("")
    assert finish(slurm, third) == 0
    assert out.read_text().split() == ["first", "second", "third"]
    second_finished = datetime.fromisoformat(slurm.info(second)["times"]["finished"])
    assert datetime.fromisoformat(slurm.info(third)["times"]["started"]) >= second_finished

    bad = slurm.create("--", "sh", "-c", "sleep 2; exit 1")
    child = slurm.create("--depends-on", bad, "--", "echo", "never")
    grandchild = slurm.create("--depends-on", child, "--", "echo", "never")
    assert finish(slurm, grandchild) == 1
    for task_id in (child, grandchild):
        info = slurm.info(task_id)
        assert (info["status"], info["reason"]) == ("failure", "dependency failed")
        assert slurm.cli("task", "log", task_id, check=False).stdout == ""


def test_purge_dry_run_and_for_real(slurm: User) -> None:
    ok = slurm.create("--", "true")
    bad = slurm.create("--", "false")
    finish(slurm, ok)
    finish(slurm, bad)
    dry = json.loads(slurm.cli("purge", "--status", "failure", "--dry-run", "--json").stdout)
    assert dry["tasks"] == [bad]
    assert task_exists(slurm.root, bad)
    slurm.cli("purge", "--status", "failure")
    assert not task_exists(slurm.root, bad) and not slurm.root.task_dir(bad).exists()
    assert task_exists(slurm.root, ok)
