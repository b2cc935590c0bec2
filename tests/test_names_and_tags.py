"""Names and tags on every creating command, and `task list` finding tasks by them."""

from __future__ import annotations

import json

from hipercow_testing import Cli


def listed(cli: Cli, *filters: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(cli("task", "list", "--json", *filters).stdout)
    return found


def test_a_named_tagged_task_is_found_by_name_and_tag(cli: Cli) -> None:
    one = cli(
        "task", "create", "--name", "fit-1", "--tag", "model=ols", "--", "true"
    ).stdout.strip()
    other = cli(
        "task", "create", "--name", "plot", "--tag", "model=ols", "--", "true"
    ).stdout.strip()
    cli("task", "create", "--python", "1 + 1", "--name", "fit-py", "--tag", "model=ridge")
    assert [t["id"] for t in listed(cli, "--name", "fit*", "--tag", "model=ols")] == [one]
    assert {t["id"] for t in listed(cli, "--tag", "model=ols")} == {one, other}
    assert len(listed(cli, "--name", "fit*")) == 2
    info = cli("task", "info", one).stdout
    assert "name  fit-1" in info and "tags  model=ols" in info
    assert f"{one}" in cli("task", "list", "--name", "fit-1").stdout
    assert "[fit-1]" in cli("task", "list", "--name", "fit-1").stdout


def test_bulk_rows_become_tags_and_names_follow_a_template(cli: Cli) -> None:
    cli(
        "bulk",
        "create",
        "--name",
        "sweep",
        "--task-name",
        "fit-@n-@model",
        "--data",
        "n=1..3",
        "--data",
        "model=ols,ridge",
        "--tag",
        "run=a",
        "--",
        "echo",
        "@n",
        "@model",
    )
    cli("task", "create", "--name", "fit-9-ols", "--tag", "model=ols", "--", "true")
    found = listed(cli, "--name", "fit*", "--tag", "model=ols", "--bundle", "sweep")
    found.sort(key=lambda t: str(t["name"]))
    assert [t["name"] for t in found] == ["fit-1-ols", "fit-2-ols", "fit-3-ols"]
    assert found[1]["tags"] == {"n": "2", "model": "ols", "run": "a"}
    assert all(t["bundle"] == "sweep" for t in found)
    assert len(listed(cli, "--bundle", "sweep")) == 6


def test_a_retry_keeps_the_name_and_tags(cli: Cli) -> None:
    task_id = cli(
        "task", "create", "--wait", "--name", "flaky", "--tag", "k=v", "--", "false", check=False
    )
    first = task_id.stdout.strip().splitlines()[0]
    new = cli("task", "retry", first).stdout.split("->")[1].strip()
    info = json.loads(cli("task", "info", "--json", new).stdout)
    assert info["data"]["name"] == "flaky" and info["data"]["tags"] == {"k": "v"}


def test_bad_names_and_tags_are_refused_and_create_nothing(cli: Cli) -> None:
    bad_tag = cli("task", "create", "--tag", "model", "--", "true", check=False)
    assert bad_tag.code == 1 and "--tag 'model' is not of the form NAME=VALUE" in bad_tag.stderr
    bad_key = cli("task", "create", "--tag", "9x=1", "--", "true", check=False)
    assert bad_key.code == 1 and "tag '9x' is not a valid tag name" in bad_key.stderr
    blank = cli("task", "create", "--name", " ", "--", "true", check=False)
    assert blank.code == 1 and "is empty" in blank.stderr
    unknown = cli(
        "bulk",
        "create",
        "--task-name",
        "fit-@m",
        "--data",
        "n=1..2",
        "--",
        "echo",
        "@n",
        check=False,
    )
    assert unknown.code == 1 and "--task-name uses @m" in unknown.stderr
    assert "Traceback" not in blank.output + unknown.output
    assert cli("task", "list").stdout == ""
    assert cli("bundle", "list").stdout.strip() in ("", "No bundles")
