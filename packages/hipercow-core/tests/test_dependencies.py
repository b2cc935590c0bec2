"""Dependencies: what a name stands for, and whether a task may run yet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipercow_core.bundles import save_bundle
from hipercow_core.dependencies import Readiness, readiness, resolve_dependencies
from hipercow_core.errors import InvalidTaskIdError
from hipercow_core.ids import new_task_id
from hipercow_core.root import Root
from hipercow_core.schema import FinishedMarker, RunningMarker, TaskStatus
from hipercow_core.store import mark_finished, mark_running
from hipercow_core.tasks import TaskSpec, create_tasks


@pytest.fixture
def root(tmp_path: Path) -> Root:
    made, _ = Root.init(tmp_path)
    return made


def made(root: Root, count: int) -> list[str]:
    specs = [TaskSpec(command=("true",)) for _ in range(count)]
    return create_tasks(root, specs, cwd=root.project, submit=False)


def finish(root: Root, task_id: str, status: TaskStatus) -> None:
    mark_finished(root, task_id, FinishedMarker(status, datetime.now(UTC)))


def test_a_bundle_name_stands_for_its_tasks_each_once(root: Root) -> None:
    a, b, c = made(root, 3)
    save_bundle(root, [a, b], "pair")
    assert resolve_dependencies(root, ["pair", c, a]) == (a, b, c)


def test_a_task_id_need_not_be_a_bundle(root: Root) -> None:
    (a,) = made(root, 1)
    assert resolve_dependencies(root, [a]) == (a,)
    assert resolve_dependencies(root, []) == ()


def test_a_name_that_is_neither_says_so(root: Root) -> None:
    with pytest.raises(InvalidTaskIdError) as caught:
        resolve_dependencies(root, ["no-such-bundle"])
    assert caught.value.message == (
        "'no-such-bundle' (a dependency) is neither a bundle of this root nor a task id"
    )
    assert caught.value.hint is not None and "hipercow bundle list" in caught.value.hint


def test_ready_only_when_every_dependency_succeeded(root: Root) -> None:
    a, b = made(root, 2)
    assert readiness(root, []) == Readiness.READY
    assert readiness(root, [a, b]) == Readiness.WAITING
    finish(root, a, TaskStatus.SUCCESS)
    mark_running(root, b, RunningMarker(datetime.now(UTC), "node1", 123))
    assert readiness(root, [a, b]) == Readiness.WAITING
    finish(root, b, TaskStatus.SUCCESS)
    assert readiness(root, [a, b]) == Readiness.READY


@pytest.mark.parametrize("outcome", [TaskStatus.FAILURE, TaskStatus.CANCELLED])
def test_failed_as_soon_as_one_dependency_cannot_succeed(root: Root, outcome: TaskStatus) -> None:
    a, b = made(root, 2)
    finish(root, b, outcome)
    assert readiness(root, [a, b]) == Readiness.FAILED


def test_a_dependency_that_is_gone_has_failed(root: Root) -> None:
    (a,) = made(root, 1)
    finish(root, a, TaskStatus.SUCCESS)
    assert readiness(root, [a, new_task_id()]) == Readiness.FAILED
