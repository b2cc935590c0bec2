"""Retrying finished tasks: new linked tasks, linear chains, and following them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipercow_core.errors import TaskStateError
from hipercow_core.resources import parse_resources
from hipercow_core.retry import follow, retry_chain, retry_tasks
from hipercow_core.root import Root
from hipercow_core.schema import FinishedMarker, TaskStatus
from hipercow_core.store import file_status, mark_finished, read_task_data
from hipercow_core.tasks import TaskSpec, create_tasks, wait_task


@pytest.fixture
def root(tmp_path: Path) -> Root:
    made, _ = Root.init(tmp_path)
    return made


def made(root: Root, *commands: str, cores: str | None = None) -> list[str]:
    resources = parse_resources(cores=cores)
    specs = [TaskSpec(command=(c,), resources=resources) for c in commands]
    return create_tasks(root, specs, cwd=root.project, submit=False)


def finish(root: Root, task_id: str, status: TaskStatus = TaskStatus.FAILURE) -> None:
    assert mark_finished(root, task_id, FinishedMarker(status, datetime.now(UTC), exit_code=1))


def test_a_retry_is_a_new_task_like_the_old_one(root: Root) -> None:
    (old,) = made(root, "fit.sh", cores="2")
    finish(root, old)
    new = retry_tasks(root, [old], submit=False)[old]
    assert new != old
    before, after = read_task_data(root, old), read_task_data(root, new)
    assert after.command == before.command and after.resources == before.resources
    assert after.retry_of == old
    assert file_status(root, new) == TaskStatus.CREATED


def test_resource_changes_replace_only_what_was_given(root: Root) -> None:
    (old,) = made(root, "fit.sh", cores="2")
    finish(root, old)
    new = retry_tasks(root, [old], resource_changes={"max_runtime": 90}, submit=False)[old]
    resources = read_task_data(root, new).resources
    assert resources.max_runtime == 90
    assert resources.cores == read_task_data(root, old).resources.cores


def test_retrying_again_extends_the_chain_and_following_finds_its_end(root: Root) -> None:
    (first,) = made(root, "a")
    finish(root, first)
    second = retry_tasks(root, [first], submit=False)[first]
    finish(root, second)
    # Retrying the first task retries the latest one of its chain.
    third = retry_tasks(root, [first], submit=False)[second]
    assert retry_chain(root, first) == retry_chain(root, third) == [first, second, third]
    assert follow(root, [first, second, third]) == [third, third, third]
    assert follow(root, [first], enabled=False) == [first]


def test_only_finished_tasks_are_retried(root: Root) -> None:
    (task_id,) = made(root, "a")
    with pytest.raises(TaskStateError, match=f"task {task_id} is created: only finished tasks"):
        retry_tasks(root, [task_id], submit=False)


def test_two_people_retrying_at_once_make_one_chain(root: Root) -> None:
    (old,) = made(root, "a")
    finish(root, old)
    results: list[dict[str, str]] = []
    refused: list[TaskStateError] = []
    start = threading.Barrier(4)

    def retry() -> None:
        start.wait()
        try:
            results.append(retry_tasks(root, [old], submit=False))
        except TaskStateError as e:  # came late: followed to the winner's unfinished retry
            refused.append(e)

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r[old] for r in results if r]
    assert len(winners) == 1
    assert results == [{old: winners[0]}]  # a racer that lost the link says so, below
    assert all(
        f"task {winners[0]} is created" in e.message
        or e.message == f"task {old} was already retried as {winners[0]}"
        for e in refused
    )
    assert retry_chain(root, old) == [old, winners[0]]
    # The losers' tasks were removed again: only the original and the winner remain.
    assert sorted(p.name for p in root.tasks_dir.rglob("*.json") if len(p.stem) == 30) == sorted(
        t[2:] + ".json" for t in (old, winners[0])
    )


def test_a_wait_follows_into_a_retry_its_maker_has_not_submitted_yet(root: Root) -> None:
    # Retries are linked first and submitted after: a wait arriving in between
    # keeps waiting for the retry instead of calling it never submitted.
    (old,) = made(root, "fit.sh")
    finish(root, old)
    new = retry_tasks(root, [old], submit=False)[old]
    finishing = threading.Timer(0.5, finish, (root, new, TaskStatus.SUCCESS))
    finishing.start()
    try:
        assert wait_task(root, old, timeout=30, poll=0.05) == TaskStatus.SUCCESS
    finally:
        finishing.join()


def test_a_wait_still_refuses_the_task_asked_for_when_it_was_never_submitted(root: Root) -> None:
    (task,) = made(root, "fit.sh")
    with pytest.raises(TaskStateError, match="never submitted"):
        wait_task(root, task, timeout=30)
