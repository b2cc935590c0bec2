"""Bugs users of the earlier tools reported (issue 17), replayed end to end through the CLI."""

from __future__ import annotations

import json

from hipercow_core.root import Root
from hipercow_testing import Cli, wait_until


def create(cli: Cli, *args: str) -> str:
    return cli("task", "create", *args).stdout.strip()


def test_a_named_hold_is_the_users_local_midnight_and_says_its_zone(project: Root) -> None:
    tokyo = Cli(project.project, {"TZ": "Asia/Tokyo"})
    task_id = create(tokyo, "--hold-until", "midnight", "--", "true")
    info = json.loads(tokyo("task", "info", task_id, "--json").stdout)
    held = info["times"]["not_before"]
    assert held.endswith("T00:00:00+09:00")
    assert info["held_zone"] == "JST, UTC+09:00"
    day = held[:10]
    shown = tokyo("task", "info", task_id).stdout
    assert f"hold_until={day} 00:00:00 (JST, UTC+09:00; midnight, local time)" in shown
    outer = tokyo("task", "log", task_id, "--outer").stdout
    assert f"(held until {day} 00:00 JST, UTC+09:00)" in outer
    tokyo("task", "cancel", task_id)


def test_a_tasks_environment_is_never_an_earlier_tasks_shell(project: Root) -> None:
    """While the local daemon lives, a new task used to inherit the daemon's (first) shell."""
    first = Cli(project.project, {"FOO": "first"})
    second = Cli(project.project, {"FOO": "second"})
    show = 'echo "FOO=${FOO-unset}"'
    early = create(first, "--", "sh", "-c", f"{show}; sleep 2")
    wait_until(lambda: first("task", "status", early).stdout.strip() == "running")
    late = create(second, "--", "sh", "-c", show)
    passed = create(second, "--env", "FOO=second", "--", "sh", "-c", show)
    for task_id in (early, late, passed):
        assert second("task", "wait", task_id, check=False).code == 0
    assert first("task", "log", early).stdout == "FOO=unset\n"
    assert second("task", "log", late).stdout == "FOO=unset\n"
    assert second("task", "log", passed).stdout == "FOO=second\n"


def test_cancel_from_another_machine_refuses_and_names_the_machine(project: Root) -> None:
    here = Cli(project.project, {"HIPERCOW_HOSTNAME": "machine-a"})
    there = Cli(project.project, {"HIPERCOW_HOSTNAME": "machine-b"})
    here("driver", "configure", "local")
    task_id = create(here, "--", "sleep", "600")
    wait_until(lambda: here("task", "status", task_id).stdout.strip() == "running")
    refused = there("task", "cancel", task_id, check=False)
    assert refused.code == 1
    assert refused.stdout.strip() == (
        f"{task_id}  not cancelled (it runs on machine-a: cancel it there)"
    )
    assert here("task", "status", task_id).stdout.strip() == "running"
    assert here("task", "cancel", task_id).stdout.strip() == f"{task_id}  cancelled"
    again = here("task", "cancel", task_id)
    assert again.stdout.strip() == f"{task_id}  not cancelled (already finished)"


def test_purge_keeps_a_finished_task_an_unfinished_one_depends_on(cli: Cli, project: Root) -> None:
    gate = project.project / "gate"
    waiter = create(cli, "--", "sh", "-c", f"while [ ! -e '{gate}' ]; do sleep 0.1; done")
    needed = create(cli, "--", "true")
    assert cli("task", "wait", needed).code == 0
    dependent = create(cli, "--depends-on", needed, "--depends-on", waiter, "--", "true")
    loose = create(cli, "--", "true")
    assert cli("task", "wait", loose).code == 0

    dry = json.loads(cli("purge", "--dry-run", "--json").stdout)
    assert dry["tasks"] == [loose]
    assert dry["kept"] == {needed: [dependent]}
    done = cli("purge")
    assert "Removed 1 task(s)" in done.stdout
    assert f"Kept {needed}: unfinished task(s) depend on it ({dependent})" in done.stdout
    assert cli("task", "status", needed).stdout.strip() == "success"

    gate.touch()
    assert cli("task", "wait", dependent, check=False).code == 0
    assert cli("task", "status", dependent).stdout.strip() == "success"
    assert json.loads(cli("purge", "--json").stdout)["kept"] == {}


def test_a_no_break_space_in_the_command_is_named_not_taken_for_a_missing_command(
    cli: Cli, project: Root
) -> None:
    refused = cli("task", "create", "--", "echo\u00a0hi", check=False)
    assert refused.code == 1
    assert refused.stderr.splitlines()[0] == (
        "Error: the command 'echo\\u00a0hi' holds a no-break space (U+00A0) after 'echo', "
        "which looks like a space but is not one"
    )
    assert "Traceback" not in refused.stderr
    assert cli("task", "list").stdout == ""
    warned = cli("task", "create", "--wait", "--", "echo", "a\u2009b\u200bc")
    assert "holds a typographic space (U+2009) after 'a'" in warned.stderr
    assert cli("task", "log", warned.stdout.strip()).stdout == "a\u2009b\u200bc\n"


def test_names_differing_only_by_case_are_refused(cli: Cli, project: Root) -> None:
    cli("bulk", "create", "--name", "dup", "--data", "x=1..2", "--", "echo", "@x")
    clash = cli(
        "bulk", "create", "--name", "DUP", "--data", "x=1..2", "--", "echo", "@x", check=False
    )
    assert clash.code == 1
    assert "bundle 'dup' already exists, and 'DUP' differs from it only by case" in clash.stderr
    assert [line.split()[0] for line in cli("bundle", "list").stdout.splitlines()] == ["dup"]
    assert len(cli("task", "list").stdout.splitlines()) == 2

    cli("environment", "new", "Analysis", "--engine", "empty")
    twin = cli("environment", "new", "analysis", "--engine", "empty", check=False)
    assert twin.code == 1
    assert "environment 'Analysis' already exists, and 'analysis' differs" in twin.stderr
    assert not (project.path / "environments" / "analysis").exists()


def test_a_requirements_file_that_includes_others_installs_and_is_checked_whole(
    cli: Cli, project: Root
) -> None:
    reqs = project.project / "reqs"
    reqs.mkdir()
    (reqs / "requirements.txt").write_text("-r base.txt\n-c pins.txt\n")
    (reqs / "base.txt").write_text("six\n")
    (reqs / "pins.txt").write_text("six==1.16.0\n")
    cli("environment", "new", "inc")
    cli("environment", "provision", "inc", "-r", "reqs/requirements.txt")
    task_id = create(
        cli, "--environment", "inc", "--", "python", "-c", "import six; print(six.__version__)"
    )
    assert cli("task", "wait", task_id).code == 0
    assert cli("task", "log", task_id).stdout == "1.16.0\n"
    assert cli("environment", "check", "inc").code == 0
    (reqs / "pins.txt").write_text("six==1.17.0\n")
    changed = cli("environment", "check", "inc", check=False)
    assert changed.code == 1 and changed.stdout.startswith("Changed")
