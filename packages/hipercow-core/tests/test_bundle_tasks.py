"""Creating a bundle of tasks as one operation, and what is done to its tasks afterwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hipercow_core.bundle_tasks import (
    bundle_statuses,
    bundle_summaries,
    bundle_task_ids,
    create_bundle,
    did_not_succeed,
    retry_bundle,
)
from hipercow_core.bundles import bundle_path, list_bundles, load_bundle
from hipercow_core.errors import InvalidInputError
from hipercow_core.root import Root
from hipercow_core.schema import FinishedMarker, RunningMarker, SubmittedMarker, TaskStatus
from hipercow_core.store import (
    iter_task_ids,
    mark_finished,
    mark_running,
    mark_submitted,
    read_task_data,
)
from hipercow_core.tasks import TaskSpec, task_info


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Root:
    made, _ = Root.init(tmp_path)
    monkeypatch.chdir(tmp_path)
    return made


def specs(*commands: str) -> list[TaskSpec]:
    return [TaskSpec(command=("sh", "-c", c)) for c in commands]


def finish(root: Root, task_id: str, status: TaskStatus) -> None:
    mark_finished(root, task_id, FinishedMarker(status, datetime.now(UTC)))


def test_the_tasks_carry_the_bundle_name_and_the_bundle_lists_them(root: Root) -> None:
    bundle = create_bundle(
        root, specs("exit 0", "exit 1"), name="pair", command=("x",), submit=False
    )
    assert load_bundle(root, "pair") == bundle
    assert bundle.command == ("x",)
    assert [read_task_data(root, t).bundle for t in bundle.task_ids] == ["pair", "pair"]


def test_a_default_name_is_picked_to_be_free(root: Root) -> None:
    first = create_bundle(root, specs("true"), submit=False)
    second = create_bundle(root, specs("true"), submit=False)
    assert first.name != second.name
    assert {b.name for b in list_bundles(root)} == {first.name, second.name}


def test_bad_input_leaves_neither_tasks_nor_a_bundle(root: Root) -> None:
    bad = [TaskSpec(command=("true",), envvars={"1BAD": "x"})]
    with pytest.raises(InvalidInputError):
        create_bundle(root, bad, name="broken", submit=False)
    assert not bundle_path(root, "broken").exists()
    assert list(iter_task_ids(root)) == []


def test_a_taken_name_is_refused_before_any_task_is_made(root: Root) -> None:
    create_bundle(root, specs("true"), name="once", submit=False)
    with pytest.raises(InvalidInputError, match="a bundle called 'once' already exists"):
        create_bundle(root, specs("true", "true"), name="once", submit=False)
    assert len(list(iter_task_ids(root))) == 1


def test_statuses_counts_and_retries_follow_the_latest_task(root: Root) -> None:
    bundle = create_bundle(root, specs("ok", "bad", "cut"), name="mixed", submit=False)
    ok, bad, cut = bundle.task_ids
    finish(root, ok, TaskStatus.SUCCESS)
    finish(root, bad, TaskStatus.FAILURE)
    finish(root, cut, TaskStatus.CANCELLED)
    assert [did_not_succeed(s) for _, s in bundle_statuses(root, "mixed").values()] == [
        False,
        True,
        True,
    ]
    with pytest.raises(InvalidInputError, match="only finished tasks can be retried"):
        retry_bundle(root, "mixed", statuses=[TaskStatus.RUNNING])
    retried = retry_bundle(root, "mixed", statuses=[TaskStatus.FAILURE])
    assert list(retried) == [bad]
    assert bundle_task_ids(root, "mixed") == [ok, retried[bad], cut]
    assert bundle_task_ids(root, "mixed", follow=False) == [ok, bad, cut]
    (summary,) = bundle_summaries(root)
    assert summary.bundle.name == "mixed"
    assert summary.counts[TaskStatus.SUCCESS] == 1 and summary.counts[TaskStatus.CANCELLED] == 1
    assert sum(summary.counts.values()) == 3


def test_task_info_gives_the_time_waited_and_run(root: Root) -> None:
    bundle = create_bundle(root, specs("a", "b"), submit=False)
    ran, fresh = bundle.task_ids
    start = datetime.now(UTC) - timedelta(minutes=5)
    mark_submitted(root, ran, SubmittedMarker(start, "local", "job-1"))
    mark_running(root, ran, RunningMarker(start + timedelta(seconds=30), "node1", 1))
    mark_finished(root, ran, FinishedMarker(TaskStatus.SUCCESS, start + timedelta(seconds=100)))
    info = task_info(root, ran)
    assert info.waited_seconds == 30
    assert info.ran_seconds == 70
    untouched = task_info(root, fresh)
    assert untouched.waited_seconds is None and untouched.ran_seconds is None
