"""Many tasks at once on the local driver: bulk creation, bundles, retries, dependencies, purge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hipercow_core.root import Root
from hipercow_core.store import task_exists
from hipercow_testing import Cli


def bundle_ids(cli: Cli, name: str) -> list[str]:
    return [row["id"] for row in json.loads(cli("bundle", "status", name, "--json").stdout)]


def test_preview_shows_commands_and_creates_nothing(cli: Cli, project: Root) -> None:
    result = cli(
        "bulk",
        "create",
        "--preview",
        "--data",
        "x=1..10",
        "--data",
        "y=a,b",
        "--",
        "echo",
        "@x",
        "@y",
    )
    lines = result.stdout.splitlines()
    assert lines[:3] == ["echo 1 a", "echo 1 b", "echo 2 a"]
    assert lines[-1] == "echo 10 b"
    assert "14 more" in result.stdout
    assert "20 tasks would be created" in result.stderr
    assert not list(project.tasks_dir.iterdir())


def test_ranges_lists_zip_and_csv(cli: Cli, project: Root) -> None:
    def preview(*args: str) -> list[str]:
        return cli("bulk", "create", "--preview", *args).stdout.splitlines()

    assert preview("--data", "x=1:4", "--", "echo", "@x") == ["echo 1", "echo 2", "echo 3"]
    assert preview("--data", "x=1..3", "--data", "y=a,b,c", "--zip", "--", "echo", "@x@y") == [
        "echo 1a",
        "echo 2b",
        "echo 3c",
    ]
    (project.project / "grid.csv").write_text("alpha,beta\n0.1,x\n0.2,y\n")
    assert preview("--data", "grid.csv", "--", "run", "--a=@alpha", "@beta") == [
        "run --a=0.1 x",
        "run --a=0.2 y",
    ]


def test_float_steps_and_log_spaced_ranges(cli: Cli) -> None:
    def preview(*args: str) -> list[str]:
        return cli("bulk", "create", "--preview", *args, "--", "echo", "@x").stdout.splitlines()

    assert preview("--data", "x=0.1..0.5:0.1") == [f"echo 0.{i}" for i in range(1, 6)]
    assert preview("--data", "x=10..1:-4") == ["echo 10", "echo 6", "echo 2"]
    assert preview("--data", "x=1e-3..1e3:log7") == [
        "echo 0.001",
        "echo 0.01",
        "echo 0.1",
        "echo 1",
        "echo 10",
        "echo 100",
        "echo 1000",
    ]
    assert preview("--data", "x=host:port") == ["echo host:port"]


def test_repeat_makes_identical_tasks_and_bundles_show_data(cli: Cli, project: Root) -> None:
    copies = cli("bulk", "create", "--name", "copies", "--repeat", "3", "--", "true")
    assert "with 3 tasks" in copies.stdout
    cli("bundle", "wait", "copies")
    rows = json.loads(cli("bundle", "status", "copies", "--json").stdout)
    assert [r["data"] for r in rows] == [{"copy": "1"}, {"copy": "2"}, {"copy": "3"}]
    assert len({r["id"] for r in rows}) == 3

    cli("bulk", "create", "--name", "grid", "--data", "x=0.5..1:0.5", "--data", "y=a,b",
        "--repeat", "2", "--", "sh", "-c", "echo run @x @y; test @y = a")  # fmt: skip
    cli("bundle", "wait", "grid", check=False)
    lines = cli("bundle", "status", "grid").stdout.splitlines()
    assert len(lines) == 8
    first = lines[0].split()
    assert first[1:] == ["success", "x=0.5", "y=a", "copy=1"]
    assert lines[3].split()[1:] == ["failure", "x=0.5", "y=b", "copy=2"]
    log = cli("bundle", "log", "grid", "--failed").stdout
    assert f"==> {lines[3].split()[0]} (failure) x=0.5 y=b copy=2 <==" in log
    assert "run 1 b" in log and "run 0.5 a" not in log


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "x=1..3", "--", "echo", "@y"], "@y"),
        (["--data", "x=1..3", "--data", "y=a", "--", "echo", "@x"], "never uses @y"),
        (
            ["--data", "x=1..3", "--data", "y=a,b", "--zip", "--", "echo", "@x", "@y"],
            "equal lengths",
        ),
        (["--data", "nosuchfile.csv", "--", "echo", "@x"], "neither name=values nor"),
        (["--data", "x=5..1", "--", "echo", "@x"], "gives no values"),
        (["--data", "x=0.1..0.5", "--", "echo", "@x"], "x=0.1..0.5:0.1 (by a step)"),
        (["--data", "x=1..5:-1", "--", "echo", "@x"], "never gets from 1 to 5"),
        (["--data", "x=0..1:log3", "--", "echo", "@x"], "two positive ends"),
        (["--repeat", "0", "--", "echo", "hi"], "--repeat 0 makes no tasks"),
        (["--", "echo", "hi"], "no --data"),
        (["--data", "x=1..3", "--name", "../bad", "--", "echo", "@x"], "not a bundle name"),
        (["--data", "x=1..3", "--name", "CON", "--", "echo", "@x"], "reserves it for a device"),
        (["--data", "x=1..3", "--name", "lpt1.a", "--", "echo", "@x"], "cannot be a bundle name"),
        (["--data", "x=1..3", "--name", "run.", "--", "echo", "@x"], "a trailing dot or space"),
        (["--data", "x=1..3", "--cores", "0", "--", "echo", "@x"], "cores"),
    ],
)
def test_bad_bulk_input_creates_nothing(
    cli: Cli, project: Root, args: list[str], expected: str
) -> None:
    result = cli("bulk", "create", *args, check=False)
    assert result.code != 0
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert not list(project.tasks_dir.iterdir())
    assert not list((project.path / "bundles").glob("*.json"))


def test_bundle_lifecycle_with_retry_of_only_the_failures(cli: Cli, project: Root) -> None:
    created = cli(
        "bulk",
        "create",
        "--name",
        "sweep",
        "--cores",
        "1",
        "--data",
        "x=1..6",
        "--",
        "sh",
        "-c",
        "echo value @x; test @x -ne 3 && test @x -ne 5",
    )
    assert "bundle 'sweep' with 6 tasks" in created.stdout
    assert cli("bundle", "wait", "sweep", check=False).code == 1
    counts = json.loads(cli("bundle", "status", "sweep", "--summary", "counts", "--json").stdout)
    assert counts == {"success": 4, "failure": 2}
    assert cli("bundle", "status", "sweep", "--summary", "worst").stdout.strip() == "failure"
    original = bundle_ids(cli, "sweep")

    failed_log = cli("bundle", "log", "sweep", "--failed").stdout
    assert "value 3" in failed_log and "value 5" in failed_log and "value 1" not in failed_log

    retried = json.loads(cli("bundle", "retry", "sweep", "--json").stdout)
    assert len(retried) == 2
    assert set(retried) == {original[2], original[4]}
    for new in retried.values():
        info = json.loads(cli("task", "info", new, "--json").stdout)
        assert info["data"]["resources"].get("cores", 1) == 1
        assert info["data"]["retry_of"] in retried
    # the retries fail again (same command); the bundle follows them
    assert cli("bundle", "wait", "sweep", check=False).code == 1
    assert cli("bundle", "status", "sweep", "--summary", "counts", "--json").stdout.count("failure")
    followed = json.loads(cli("task", "info", original[2], "--json").stdout)["retry_chain"]
    assert followed == [original[2], retried[original[2]]]
    assert cli("task", "status", original[2], "--no-follow").stdout.strip() == "failure"
    listed = cli("bundle", "list").stdout
    assert listed.startswith("sweep") and "6 tasks" in listed

    cli("bundle", "delete", "sweep")
    assert cli("bundle", "list").stdout == ""
    for task_id in original:
        assert task_exists(project, task_id)


def test_retry_only_finished_tasks_and_chains_stay_linear(cli: Cli) -> None:
    running = cli("task", "create", "--", "sleep", "60").stdout.strip()
    refused = cli("task", "retry", running, check=False)
    assert refused.code == 1 and "only finished tasks can be retried" in refused.stderr
    cli("task", "cancel", running)
    first = json.loads(cli("task", "retry", running, "--json").stdout)[running]
    cli("task", "wait", first, "--timeout", "5", check=False)
    cli("task", "cancel", running)  # follows to `first`
    assert cli("task", "status", first).stdout.strip() == "cancelled"
    # retrying the original again retries the end of the chain, never forks it
    second = json.loads(cli("task", "retry", running, "--json").stdout)
    assert list(second) == [first]
    chain = json.loads(cli("task", "info", running, "--json").stdout)["retry_chain"]
    assert chain == [running, first, second[first]]
    cli("task", "cancel", running)


def test_retry_keeps_resources_unless_new_ones_are_given(cli: Cli) -> None:
    task_id = cli(
        "task", "create", "--cores", "2", "--max-runtime", "1h30", "--", "false"
    ).stdout.strip()
    cli("task", "wait", task_id, check=False)
    kept = json.loads(cli("task", "retry", task_id, "--json").stdout)[task_id]
    info = json.loads(cli("task", "info", kept, "--json").stdout)
    assert (
        info["data"]["resources"]["cores"] == 2 and info["data"]["resources"]["max_runtime"] == 90
    )
    cli("task", "wait", kept, check=False)
    changed = json.loads(cli("task", "retry", task_id, "--cores", "1", "--json").stdout)[kept]
    changed_resources = json.loads(cli("task", "info", changed, "--json").stdout)["data"][
        "resources"
    ]
    assert changed_resources.get("cores", 1) == 1
    assert changed_resources["max_runtime"] == 90


def test_result_and_log_follow_retries(cli: Cli, project: Root) -> None:
    (project.project / "flaky.py").write_text(
        "import pathlib\n"
        "def run():\n"
        "    marker = pathlib.Path('ran-once')\n"
        "    if not marker.exists():\n"
        "        marker.write_text('x')\n"
        "        raise RuntimeError('first time fails')\n"
        "    print('second time works')\n"
        "    return 'ok'\n"
    )
    task_id = cli("task", "call", "flaky:run").stdout.strip()
    assert cli("task", "wait", task_id, check=False).code == 1
    cli("task", "retry", task_id)
    assert cli("task", "wait", task_id).code == 0
    assert cli("task", "result", task_id).stdout.strip() == "ok"
    assert "second time works" in cli("task", "log", task_id).stdout
    assert cli("task", "result", task_id, "--no-follow", check=False).code == 1


def test_info_shows_the_followed_outcome_then_the_chain(cli: Cli, project: Root) -> None:
    flag = project.project / "flag"
    first = cli("task", "create", "--", "test", "-f", str(flag)).stdout.strip()
    cli("task", "wait", first, check=False)
    flag.write_text("")
    retry = json.loads(cli("task", "retry", first, "--json").stdout)[first]
    cli("task", "wait", retry)

    assert cli("task", "status", first).stdout.strip() == "success"
    rows = [line.strip() for line in cli("task", "info", first).stdout.splitlines()]
    assert rows[1] == f"status  success (latest attempt: {retry})"
    assert rows[2] == f"attempts  {first}: failure → retried as {retry}: success"
    assert rows[3] == "this attempt  failure"
    of_retry = cli("task", "info", retry).stdout.splitlines()
    assert of_retry[1].split() == ["status", "success"]
    followed = json.loads(cli("task", "info", first, "--json").stdout)["followed"]
    assert followed == {"id": retry, "status": "success"}


def test_a_chain_of_dependencies_and_a_failure_that_propagates(cli: Cli, project: Root) -> None:
    out = project.project / "order.txt"
    first = cli("task", "create", "--", "sh", "-c", f"sleep 1; echo first >> {out}").stdout.strip()
    second = cli(
        "task", "create", "--depends-on", first, "--", "sh", "-c", f"echo second >> {out}"
    ).stdout.strip()
    third = cli(
        "task", "create", "--depends-on", second, "--", "sh", "-c", f"echo third >> {out}"
    ).stdout.strip()
    assert cli("task", "wait", third, "--timeout", "60").code == 0
    assert out.read_text().split() == ["first", "second", "third"]

    bad = cli("task", "create", "--", "sh", "-c", "sleep 1; exit 1").stdout.strip()
    child = cli("task", "create", "--depends-on", bad, "--", "echo", "never").stdout.strip()
    grandchild = cli("task", "create", "--depends-on", child, "--", "echo", "never").stdout.strip()
    assert cli("task", "wait", grandchild, "--timeout", "60", check=False).code == 1
    for task_id in (child, grandchild):
        info = json.loads(cli("task", "info", task_id, "--json").stdout)
        assert (info["status"], info["reason"]) == ("failure", "dependency failed")
        assert cli("task", "log", task_id, check=False).stdout == ""


def test_depending_on_a_bundle(cli: Cli) -> None:
    cli("bulk", "create", "--name", "inputs", "--data", "x=1..3", "--", "sh", "-c", "sleep 0.@x")
    after = cli("task", "create", "--depends-on", "inputs", "--", "echo", "all done").stdout.strip()
    info = json.loads(cli("task", "info", after, "--json").stdout)
    assert len(info["data"]["depends_on"]) == 3
    assert cli("task", "wait", after, "--timeout", "60").code == 0


def test_unknown_dependency_is_refused(cli: Cli, project: Root) -> None:
    result = cli("task", "create", "--depends-on", "0" * 32, "--", "true", check=False)
    assert result.code == 1 and "does not exist" in result.stderr
    assert "or on a bundle by name" in result.stderr
    assert not list(project.tasks_dir.iterdir())
    typo = cli(
        "bulk", "create", "--depends-on", "sweeep", "--repeat", "2", "--", "true", check=False
    )
    assert typo.code == 1 and "Traceback" not in typo.output
    assert "'sweeep' (a dependency) is neither a bundle of this root nor a task id" in typo.stderr
    assert "'hipercow bundle list'" in typo.stderr
    assert not list(project.tasks_dir.iterdir())


def test_purge_dry_run_then_for_real(cli: Cli, project: Root) -> None:
    ok = cli("task", "create", "--", "true").stdout.strip()
    bad = cli("task", "create", "--", "false").stdout.strip()
    running = cli("task", "create", "--", "sleep", "60").stdout.strip()
    cli("bulk", "create", "--name", "old", "--data", "x=1..2", "--", "sh", "-c", "exit @x")
    cli("bundle", "wait", "old", check=False)
    cli("task", "wait", ok)
    cli("task", "wait", bad, check=False)
    retry = json.loads(cli("task", "retry", bad, "--json").stdout)[bad]
    cli("task", "wait", retry, check=False)

    dry = json.loads(cli("purge", "--status", "failure", "--dry-run", "--json").stdout)
    assert set(dry["tasks"]) >= {bad, retry}
    assert ok not in dry["tasks"] and running not in dry["tasks"]
    assert dry["bundles"] == ["old"]
    assert task_exists(project, bad)

    done = cli("purge", "--status", "failure")
    assert "Removed 4 task(s) and 1 empty bundle(s)" in done.stdout
    assert not task_exists(project, bad) and not project.task_dir(bad).exists()
    assert not task_exists(project, retry)
    assert cli("bundle", "list").stdout == ""
    everything = json.loads(cli("purge", "--json").stdout)
    assert everything["tasks"] == [ok]
    assert cli("task", "status", running).stdout.strip() in ("running", "submitted")
    cli("task", "cancel", running)


def test_purge_judges_a_chain_by_its_latest_attempt(cli: Cli, project: Root) -> None:
    flag = project.project / "flag"
    first = cli("task", "create", "--", "test", "-f", str(flag)).stdout.strip()
    cli("task", "wait", first, check=False)
    flag.write_text("")
    retry = json.loads(cli("task", "retry", first, "--json").stdout)[first]
    cli("task", "wait", retry)

    nothing = cli("purge", "--status", "failure", "--dry-run")
    assert "Would remove 0 task(s)" in nothing.stdout
    dry = cli("purge", "--status", "success", "--dry-run")
    lines = dry.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "BUNDLE", "AGE"]
    assert lines[1].startswith(first) and f"failure (retried as {retry})" in lines[1]
    assert lines[2].startswith(retry) and lines[2].split()[1:3] == ["success", "-"]
    assert lines[2].split()[-1].endswith("s")
    assert "Would remove 2 task(s)" in lines[-1]
    assert task_exists(project, first)

    cli("purge", "--status", "failure")
    assert task_exists(project, first) and task_exists(project, retry)
    cli("purge", "--status", "success")
    assert not task_exists(project, first) and not task_exists(project, retry)


def test_bulk_call_uses_data_as_keyword_arguments(cli: Cli, project: Root) -> None:
    (project.project / "model.py").write_text(
        "def fit(n, method):\n    return f'{method}:{n * 2}'\ndef inverse(n):\n    return 1 / n\n"
    )
    cli("bulk", "call", "model:fit", "--name", "fits", "--data", "n=1..3", "--data", "method=ols")
    assert cli("bundle", "wait", "fits").code == 0
    values = json.loads(cli("bundle", "result", "fits", "--json").stdout)
    assert [v["value"] for v in values] == ["ols:2", "ols:4", "ols:6"]
    ids = [v["id"] for v in values]
    text = cli("bundle", "result", "fits").stdout.splitlines()
    assert text == [f"{i}  {v}" for i, v in zip(ids, ["ols:2", "ols:4", "ols:6"], strict=True)]
    assert text[0].split("  ")[1] == cli("task", "result", ids[0]).stdout.strip()

    cli("bulk", "call", "model:inverse", "--name", "bad", "--data", "n=0,2")
    cli("bundle", "wait", "bad", check=False)
    failed = cli("bundle", "result", "bad", check=False)
    assert failed.code == 1
    lines = failed.stdout.splitlines()
    assert lines[0].endswith("  error: ZeroDivisionError: division by zero")
    assert lines[1].endswith("  0.5")
    assert cli("bundle", "result", "bad", "--json", check=False).code == 1


def test_bulk_call_checks_the_function_first(cli: Cli, project: Root) -> None:
    result = cli("bulk", "call", "nomodule:f", "--data", "n=1..3", check=False)
    assert result.code == 1 and "cannot be imported" in result.stderr
    assert not list(project.tasks_dir.iterdir())


def test_bundle_wait_fail_early(cli: Cli) -> None:
    cli(
        "bulk",
        "create",
        "--name",
        "mixed",
        "--data",
        "x=1..2",
        "--",
        "sh",
        "-c",
        "test @x -eq 1 && exit 1; sleep 30",
    )
    result = cli("bundle", "wait", "mixed", "--fail-early", "--timeout", "25", check=False)
    assert result.code == 1
    assert "1 failure" in result.stderr and "success" not in result.stderr
    cli("bundle", "cancel", "mixed")
    assert "cancelled" in cli("bundle", "status", "mixed").stdout


def test_bundle_wait_names_the_tasks_that_failed_and_why(cli: Cli) -> None:
    cli("bulk", "create", "--name", "codes", "--data", "x=0..7", "--", "sh", "-c", "exit @x")
    result = cli("bundle", "wait", "codes", "--timeout", "60", check=False)
    assert result.code == 1
    lines = result.stderr.splitlines()
    assert "7 task(s) did not succeed:" in lines
    listed = lines[lines.index("7 task(s) did not succeed:") + 1 :]
    ids = bundle_ids(cli, "codes")
    assert [line.split()[0] for line in listed[:5]] == ids[1:6]
    assert listed[0].endswith("failure (exit code 1)")
    assert listed[4].endswith("failure (exit code 5)")
    assert listed[5].strip() == "... and 2 more"
    assert listed[6] == "Their logs: hipercow bundle log codes --failed"


def test_csv_rows_become_tasks(cli: Cli, project: Root, tmp_path: Path) -> None:
    (project.project / "jobs.csv").write_text("name,count\nalpha,1\nbeta,2\n")
    cli(
        "bulk",
        "create",
        "--name",
        "csv",
        "--data",
        "jobs.csv",
        "--",
        "sh",
        "-c",
        "echo @name=@count",
    )
    cli("bundle", "wait", "csv")
    log = cli("bundle", "log", "csv").stdout
    assert "alpha=1" in log and "beta=2" in log
