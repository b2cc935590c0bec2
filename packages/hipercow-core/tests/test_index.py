"""The listing cache: what `task list` shows must match the files, however the cache stands."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipercow_core.index import INDEX_FILE, SETTLE_NS, indexed_tasks
from hipercow_core.root import Root
from hipercow_core.schema import FinishedMarker, RunningMarker, TaskStatus
from hipercow_core.store import mark_finished, mark_running, remove_task
from hipercow_core.tasks import TaskSpec, create_tasks


@pytest.fixture
def root(tmp_path: Path) -> Root:
    made, _ = Root.init(tmp_path)
    return made


def made(root: Root, *commands: str) -> list[str]:
    specs = [TaskSpec(command=(c,), environment="empty") for c in commands]
    return create_tasks(root, specs, cwd=root.project, submit=False)


def listed(root: Root) -> dict[str, TaskStatus]:
    return {t.id: t.status for t in indexed_tasks(root)}


def age(root: Root, task_id: str) -> None:
    """Make a task directory look older than the settling time, as it will be soon."""
    past = (datetime.now(UTC).timestamp() * 1e9 - 2 * SETTLE_NS) / 1e9
    os.utime(root.task_dir(task_id), (past, past))


def test_every_task_is_listed_with_what_its_files_say(root: Root) -> None:
    a, b = made(root, "first", "second")
    found = {t.id: t for t in indexed_tasks(root)}
    assert set(found) == {a, b}
    assert found[a].command == ("first",) and found[a].kind == "shell"
    assert found[a].environment == "empty"
    assert {t.status for t in found.values()} == {TaskStatus.CREATED}
    assert (root.cache_dir() / INDEX_FILE).is_file()


def test_a_new_marker_is_seen_at_the_next_listing(root: Root) -> None:
    (a,) = made(root, "x")
    assert listed(root) == {a: TaskStatus.CREATED}
    mark_running(root, a, RunningMarker(datetime.now(UTC), "node1", 1))
    assert listed(root) == {a: TaskStatus.RUNNING}
    age(root, a)
    assert listed(root) == {a: TaskStatus.RUNNING}
    mark_finished(root, a, FinishedMarker(TaskStatus.SUCCESS, datetime.now(UTC)))
    assert listed(root) == {a: TaskStatus.SUCCESS}


def test_a_settled_entry_is_trusted_until_its_directory_changes(root: Root) -> None:
    (a,) = made(root, "x")
    mark_running(root, a, RunningMarker(datetime.now(UTC), "node1", 1))
    age(root, a)
    assert listed(root) == {a: TaskStatus.RUNNING}  # cached with the directory's mtime
    # A marker written without changing the mtime (coarse clocks) is missed, as designed...
    stat = os.stat(root.task_dir(a))
    mark_finished(root, a, FinishedMarker(TaskStatus.FAILURE, datetime.now(UTC)))
    os.utime(root.task_dir(a), ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert listed(root) == {a: TaskStatus.RUNNING}
    # ...and found as soon as the directory changes again.
    os.utime(root.task_dir(a))
    assert listed(root) == {a: TaskStatus.FAILURE}


def test_removed_tasks_leave_the_listing(root: Root) -> None:
    a, b = made(root, "x", "y")
    assert set(listed(root)) == {a, b}
    remove_task(root, a)
    assert set(listed(root)) == {b}


@pytest.mark.parametrize("content", [b"", b"not msgpack at all", b"\x82\xa7version\x01"])
def test_a_damaged_or_old_cache_is_rebuilt(root: Root, content: bytes) -> None:
    (a,) = made(root, "x")
    mark_finished(root, a, FinishedMarker(TaskStatus.SUCCESS, datetime.now(UTC)))
    listed(root)
    (root.cache_dir() / INDEX_FILE).write_bytes(content)
    assert listed(root) == {a: TaskStatus.SUCCESS}


def test_an_empty_root_lists_nothing(root: Root) -> None:
    assert indexed_tasks(root) == []
