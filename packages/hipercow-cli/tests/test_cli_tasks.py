"""`hipercow task ...` as a person sees it at a terminal, and as a script sees it piped."""

from __future__ import annotations

import json
import re

from hipercow_cli_testing import Run

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
GREEN_SUCCESS = "\x1b[32msuccess\x1b[0m"


def plain(text: str) -> str:
    return ANSI.sub("", text)


def create(run: Run, *command: str, options: tuple[str, ...] = ()) -> str:
    done = run("task", "create", *options, "--", *command)
    assert done.code == 0, done
    return done.stdout.strip()


def test_create_then_wait_shows_a_spinner_and_a_coloured_outcome(terminal: Run) -> None:
    task_id = create(terminal, "echo", "hello")
    assert re.fullmatch(r"[0-9a-f]{32}", task_id)
    done = terminal("task", "wait", task_id)
    assert done.code == 0
    # The spinner drew at least one frame with its message, then the outcome stayed.
    assert f"Waiting for task {task_id}" in done.stderr
    assert done.stderr.endswith(f"Task {task_id}: {GREEN_SUCCESS}\n")
    assert terminal("task", "log", task_id).stdout == "hello\n"
    status = terminal("task", "status", task_id)
    assert status.stdout == f"{GREEN_SUCCESS}\n"


def test_piped_output_has_no_colour_or_spinner(piped: Run) -> None:
    task_id = create(piped, "echo", "quiet")
    done = piped("task", "wait", task_id)
    assert done.stderr == f"Task {task_id}: success\n"
    assert piped("task", "status", task_id).stdout == "success\n"


def test_a_failing_task_exits_non_zero_and_info_shows_why(terminal: Run) -> None:
    task_id = create(terminal, "sh", "-c", "echo oops; exit 3")
    assert terminal("task", "wait", task_id).code == 1
    info = plain(terminal("task", "info", task_id).stdout)
    rows = dict(line.strip().split("  ", 1) for line in info.splitlines())
    assert rows["status"].strip() == "failure"
    assert rows["exit code"].strip() == "3"
    assert rows["command"].strip() == "sh -c 'echo oops; exit 3'"
    # Waited and ran are shown as durations such as 0.4s.
    assert re.fullmatch(r"\d+\.\ds", rows["waited"].strip())
    assert re.fullmatch(r"\d+\.\ds", rows["ran"].strip())


def test_info_json_carries_the_durations_core_computed(piped: Run) -> None:
    task_id = create(piped, "sleep", "0.5")
    assert piped("task", "wait", task_id).code == 0
    info = json.loads(piped("task", "info", task_id, "--json").stdout)
    assert info["status"] == "success"
    assert info["ran_seconds"] >= 0.5
    assert info["waited_seconds"] >= 0
    assert info["retry_chain"] == [task_id]


def test_status_follows_a_retry_unless_told_not_to(piped: Run) -> None:
    first = create(piped, "sh", "-c", "exit 1")
    piped("task", "wait", first)
    retried = piped("task", "retry", first)
    old, new = retried.stdout.strip().split(" -> ")
    assert old == first
    assert piped("task", "wait", first).code == 1  # waits for the retry, which fails again
    both = piped("task", "status", first, new, "--json")
    assert json.loads(both.stdout) == {first: "failure", new: "failure"}
    own = json.loads(piped("task", "status", first, "--no-follow", "--json").stdout)
    assert own == {"id": first, "status": "failure"}
    chain = json.loads(piped("task", "info", first, "--json").stdout)["retry_chain"]
    assert chain == [first, new]
    assert (
        f"attempts  {first}: failure → retried as {new}: failure"
        in piped("task", "info", new).stdout
    )


def test_depends_on_a_bundle_name_means_all_its_tasks(piped: Run) -> None:
    made = piped("bulk", "create", "--name", "inputs", "--data", "x=1..2", "--", "echo", "@x")
    assert made.code == 0
    bundle_ids = json.loads(piped("bundle", "status", "inputs", "--json").stdout)
    task_id = create(piped, "echo", "after", options=("--depends-on", "inputs"))
    assert piped("task", "wait", task_id).code == 0
    info = json.loads(piped("task", "info", task_id, "--json").stdout)
    assert info["data"]["depends_on"] == [t["id"] for t in bundle_ids]


def test_bad_input_is_two_red_lines_and_exit_1(terminal: Run) -> None:
    done = terminal("task", "status", "not-an-id")
    assert done.code == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == "\x1b[31mError:\x1b[0m 'not-an-id' is not a task id"
    assert len(lines) == 2 and lines[1].startswith("  ")
    assert "Traceback" not in done.stderr


def test_depending_on_something_unknown_creates_nothing(piped: Run) -> None:
    done = piped("task", "create", "--depends-on", "no-such-bundle", "--", "true")
    assert done.code == 1
    assert done.stderr.startswith(
        "Error: 'no-such-bundle' (a dependency) is neither a bundle of this root nor a task id\n"
    )
    assert piped("task", "list").stdout == ""


def test_list_and_last_agree(piped: Run) -> None:
    ids = [create(piped, "true"), create(piped, "true")]
    assert piped("task", "last").stdout.strip() == ids[-1]
    listed = json.loads(piped("task", "list", "--json").stdout)
    assert [t["id"] for t in listed] == ids
    assert all(t["command"] == ["true"] for t in listed)


def test_no_submit_keeps_a_task_back_until_task_submit(piped: Run) -> None:
    task_id = create(piped, "echo", "later", options=("--no-submit",))
    assert piped("task", "status", task_id).stdout == "created\n"
    assert piped("task", "submit", task_id).code == 0
    assert piped("task", "wait", task_id).code == 0
    assert piped("task", "log", task_id).stdout == "later\n"


def test_no_submit_with_wait_is_refused_and_creates_nothing(piped: Run) -> None:
    done = piped("task", "create", "--no-submit", "--wait", "--", "true")
    assert done.code == 1
    assert done.stderr.startswith("Error: --wait cannot wait for a task that --no-submit keeps")
    assert piped("task", "list").stdout == ""
