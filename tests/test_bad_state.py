"""Bad state on disk: corrupt files, cycles and planted links must not break the root.

Each test damages a root the way a crash, a full disk or a careless edit
would, then checks what a user sees: the other tasks still listed, the bad
file named with what to do, and the commands that repair it working.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hipercow_core.root import Root
from hipercow_core.store import data_path
from hipercow_testing import Cli


def finished_tasks(cli: Cli, count: int) -> list[str]:
    ids = [cli("task", "create", "--", "true").stdout.strip() for _ in range(count)]
    for task_id in ids:
        cli("task", "wait", task_id, "--timeout", "60")
    return ids


def assert_brief(result_output: str, code: int) -> list[str]:
    assert code == 1, result_output
    assert "This is a bug" not in result_output
    assert "Traceback" not in result_output
    lines = [line for line in result_output.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, result_output
    return lines


# 1. An empty value must not widen a purge to the whole root.


@pytest.mark.parametrize("option", ["--bundle", "--older-than", "--status"])
def test_purge_with_an_empty_value_removes_nothing(cli: Cli, project: Root, option: str) -> None:
    ids = finished_tasks(cli, 2)
    result = cli("purge", option, "", check=False)
    assert_brief(result.output, result.code)
    assert cli("task", "status", *ids).stdout.count("success") == 2


def test_purge_refuses_statuses_that_cannot_be_purged(cli: Cli, project: Root) -> None:
    result = cli("purge", "--status", "running", check=False)
    lines = assert_brief(result.output, result.code)
    assert "cannot be purged" in lines[0]


# 3. One bad file must not break the whole root.


def test_a_truncated_data_file_is_listed_as_unreadable_and_can_be_purged(
    cli: Cli, project: Root
) -> None:
    good, bad = finished_tasks(cli, 2)
    path = Path(data_path(project, bad))
    path.write_bytes(path.read_bytes()[:20])
    listed = cli("task", "list").stdout.splitlines()
    assert any(line.startswith(good) and "success" in line for line in listed)
    bad_line = next(line for line in listed if line.startswith(bad))
    assert "unreadable" in bad_line and str(path) in bad_line
    info = cli("task", "info", bad, check=False)
    lines = assert_brief(info.output, info.code)
    assert str(path) in lines[0] and "purge --status unreadable" in lines[1]
    assert "1 unreadable" in cli("purge", "--dry-run").output
    cli("purge", "--status", "unreadable")
    assert not path.exists()
    assert cli("task", "status", good).stdout.strip() == "success"


def test_garbage_in_finished_json_names_the_file(cli: Cli, project: Root) -> None:
    good, bad = finished_tasks(cli, 2)
    marker = project.task_dir(bad) / "finished.json"
    marker.write_bytes(b"\x00garbage{")
    status = cli("task", "status", bad, check=False)
    lines = assert_brief(status.output, status.code)
    assert str(marker) in lines[0]
    both = cli("task", "status", good, bad, check=False).stdout
    assert f"{good}  success" in both and f"{bad}  unreadable" in both
    assert "unreadable" in cli("task", "list").stdout


def test_a_malformed_bundle_is_listed_and_can_be_deleted(cli: Cli, project: Root) -> None:
    cli("bulk", "create", "--name", "good", "--data", "x=1,2", "--", "echo", "@x")
    cli("bulk", "create", "--name", "bad", "--data", "x=1,2", "--", "echo", "@x")
    path = project.path / "bundles" / "bad.json"
    path.write_text('{"name": "bad", "task_ids": [1, 2')
    listed = cli("bundle", "list").stdout
    assert "good" in listed
    assert "unreadable" in next(line for line in listed.splitlines() if line.startswith("bad"))
    status = cli("bundle", "status", "bad", check=False)
    lines = assert_brief(status.output, status.code)
    assert str(path) in lines[0] and "bundle delete bad" in lines[1]
    cli("purge", "--dry-run")
    cli("bundle", "delete", "bad")
    assert not path.exists()


def test_a_corrupt_machine_config_is_named_and_replaced_by_configure(
    cli: Cli, project: Root
) -> None:
    project.config_path().parent.mkdir(parents=True, exist_ok=True)
    project.config_path().write_text("{not json")
    created = cli("task", "create", "--", "true", check=False)
    lines = assert_brief(created.output, created.code)
    assert str(project.config_path()) in lines[0] and "driver configure" in lines[1]
    cli("driver", "configure", "local")
    assert json.loads(project.config_path().read_text())["default"] == "local"
    cli("task", "create", "--wait", "--", "true")


# 5. Cycles of links are reported, never followed for ever.


def test_a_cycle_of_retries_is_reported(cli: Cli, project: Root) -> None:
    first, second = finished_tasks(cli, 2)
    (project.task_dir(first) / "retried_by").write_text(second)
    (project.task_dir(second) / "retried_by").write_text(first)
    for args in (["task", "status", first], ["task", "info", first], ["task", "retry", first]):
        result = cli(*args, check=False, timeout=20)
        lines = assert_brief(result.output, result.code)
        assert "cycle" in lines[0], args
    dry = cli("purge", "--dry-run", "--json", timeout=20)
    assert set(json.loads(dry.stdout)["tasks"]) == {first, second}
    cli("purge", timeout=20)
    assert cli("task", "list").stdout == ""


def test_a_cycle_of_retry_of_links_is_reported_by_info(cli: Cli, project: Root) -> None:
    (task_id,) = finished_tasks(cli, 1)
    path = Path(data_path(project, task_id))
    record = json.loads(path.read_text())
    record["retry_of"] = task_id
    path.write_text(json.dumps(record))
    result = cli("task", "info", task_id, check=False, timeout=20)
    lines = assert_brief(result.output, result.code)
    assert "cycle" in lines[0]


# 12. Links planted in the root are never followed to delete or write.


def test_purge_does_not_delete_through_a_symlinked_shard(
    cli: Cli, project: Root, tmp_path: Path
) -> None:
    (task_id,) = finished_tasks(cli, 1)
    shard = project.tasks_dir / task_id[:2]
    outside = tmp_path / "outside"
    shard.rename(outside)
    shard.symlink_to(outside, target_is_directory=True)
    result = cli("purge", check=False)
    lines = assert_brief(result.output, result.code)
    assert "symbolic link" in lines[0]
    assert (outside / task_id[2:]).is_dir()
    assert (outside / f"{task_id[2:]}.json").is_file()


def test_the_runner_does_not_append_through_a_symlinked_log(
    cli: Cli, project: Root, tmp_path: Path
) -> None:
    (task_id,) = finished_tasks(cli, 1)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    retry = cli("task", "retry", task_id, "--hold-until", "1m").stdout.split()[-1]
    log = project.task_dir(retry) / "log"
    log.unlink(missing_ok=True)
    log.symlink_to(victim)
    from hipercow_core.run import main as run_main

    assert run_main(["--root", str(project.project), retry]) != 0
    assert victim.read_text() == "precious\n"
    info = json.loads(cli("task", "info", retry, "--json").stdout)
    assert info["status"] == "failure" and "symbolic link" in info["reason"]


def test_the_runner_run_by_hand_on_a_task_never_submitted_runs_it(cli: Cli, project: Root) -> None:
    # Such a task has no directory yet (core makes it at submission).
    from hipercow_core.run import main as run_main
    from hipercow_core.tasks import create_task

    task_id = create_task(project, ["sh", "-c", "echo by hand"], submit=False)
    assert not project.task_dir(task_id).exists()
    assert run_main(["--root", str(project.project), task_id]) == 0
    assert cli("task", "status", task_id).stdout.strip() == "success"
    assert cli("task", "log", task_id).stdout == "by hand\n"


def test_environment_delete_does_not_delete_through_a_symlinked_directory(
    cli: Cli, project: Root, tmp_path: Path
) -> None:
    cli("environment", "new", "real", "--engine", "empty")
    real = project.path / "environments" / "real"
    outside = tmp_path / "elsewhere"
    real.rename(outside)
    real.symlink_to(outside, target_is_directory=True)
    result = cli("environment", "delete", "real", check=False)
    lines = assert_brief(result.output, result.code)
    assert "symbolic link" in lines[0]
    assert (outside / "environment.json").is_file()


def test_a_symlinked_bundles_directory_is_not_written_through(
    cli: Cli, project: Root, tmp_path: Path
) -> None:
    outside = tmp_path / "bundles-elsewhere"
    outside.mkdir()
    (project.path / "bundles").symlink_to(outside, target_is_directory=True)
    result = cli("bulk", "create", "--data", "x=1,2", "--", "echo", "@x", check=False)
    lines = assert_brief(result.output, result.code)
    assert "symbolic link" in lines[0]
    assert list(outside.iterdir()) == []
    assert cli("task", "list").stdout == ""


def test_a_corrupt_environment_record_is_named(cli: Cli, project: Root) -> None:
    cli("environment", "new", "good", "--engine", "empty")
    cli("environment", "new", "broken", "--engine", "empty")
    record = project.path / "environments" / "broken" / "environment.json"
    record.write_text('{"name": ')
    result = cli("environment", "show", "broken", check=False)
    lines = assert_brief(result.output, result.code)
    assert str(record) in lines[0] and "environment delete broken" in lines[1]
    listed = cli("environment", "list")
    assert "good" in listed.stdout and str(record) in listed.stderr
    cli("environment", "delete", "broken")
    assert not record.parent.exists()
