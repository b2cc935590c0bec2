"""The root and the task store: discovery, ids, atomic markers, listing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipercow_core.errors import InvalidTaskIdError, RootNotFoundError, TaskNotFoundError
from hipercow_core.fsutil import write_once
from hipercow_core.ids import new_task_id
from hipercow_core.root import Root
from hipercow_core.schema import DriverEntry, FinishedMarker, MachineConfig, TaskData, TaskStatus
from hipercow_core.store import (
    file_status,
    iter_task_ids,
    last_task_id,
    mark_finished,
    read_task_data,
    write_task,
    write_tasks,
)
from hipercow_core.tasks import TaskSpec, create_tasks


def make_task(root: Root, command: tuple[str, ...] = ("true",)) -> TaskData:
    data = TaskData(
        id=new_task_id(), kind="shell", command=command, path=".", created=datetime.now(UTC)
    )
    write_task(root, data)
    return data


def test_init_is_idempotent_and_ignored_by_git(tmp_path: Path) -> None:
    root, created = Root.init(tmp_path)
    again, created_again = Root.init(tmp_path)
    assert created and not created_again
    assert again.path == root.path
    assert (root.path / ".gitignore").read_text().strip().endswith("*")
    assert root.meta().schema_version == 1


def test_root_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    Root.init(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert Root.find(deep).project == tmp_path.resolve()


def test_no_root_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RootNotFoundError) as e:
        Root.find(tmp_path)
    assert e.value.hint is not None and "hipercow init" in e.value.hint


@pytest.mark.parametrize(
    "bad", ["../../etc", "..", "/etc/passwd", "ABC", "0" * 31, "0" * 33, "g" * 32]
)
def test_ids_cannot_name_paths_outside_the_root(tmp_path: Path, bad: str) -> None:
    root, _ = Root.init(tmp_path)
    with pytest.raises(InvalidTaskIdError):
        root.task_dir(bad)


def test_task_round_trip_and_missing(tmp_path: Path) -> None:
    root, _ = Root.init(tmp_path)
    data = make_task(root, ("echo", "hi"))
    assert read_task_data(root, data.id) == data
    assert file_status(root, data.id) == TaskStatus.CREATED
    other = new_task_id()
    assert file_status(root, other) == TaskStatus.MISSING
    with pytest.raises(TaskNotFoundError):
        read_task_data(root, other)


def _new(count: int) -> list[TaskData]:
    now = datetime.now(UTC)
    return [
        TaskData(id=new_task_id(), kind="call", command=("f",), path=".", created=now)
        for _ in range(count)
    ]


@pytest.mark.parametrize("count", [3, 600])  # 600: written by several threads
def test_an_input_many_tasks_share_is_kept_once(tmp_path: Path, count: int) -> None:
    root, _ = Root.init(tmp_path)
    shared = b"the function" * 1000
    tasks = _new(count)
    write_tasks(
        root, [(t, {"function.pkl": shared, "args.pkl": b"%d" % i}) for i, t in enumerate(tasks)]
    )
    kept = [root.task_dir(t.id) / "function.pkl" for t in tasks]
    assert all(k.read_bytes() == shared for k in kept)
    assert len({k.stat().st_ino for k in kept}) == 1
    assert [(root.task_dir(t.id) / "args.pkl").read_bytes() for t in tasks[:3]] == [
        b"0",
        b"1",
        b"2",
    ]
    assert not list(tmp_path.rglob(".tmp-*"))


def test_a_shared_input_is_copied_where_the_disk_has_no_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(source: str, target: str) -> None:
        raise PermissionError(1, "Operation not permitted", target)  # as a share without links says

    monkeypatch.setattr("hipercow_core.store.os.link", refused)
    root, _ = Root.init(tmp_path)
    shared = b"the function"
    tasks = _new(3)
    write_tasks(root, [(t, {"function.pkl": shared}) for t in tasks])
    kept = [root.task_dir(t.id) / "function.pkl" for t in tasks]
    assert [k.read_bytes() for k in kept] == [shared] * 3
    assert len({k.stat().st_ino for k in kept}) == 3


def test_half_made_task_reads_as_created(tmp_path: Path) -> None:
    root, _ = Root.init(tmp_path)
    task_id = new_task_id()
    root.task_dir(task_id).mkdir(parents=True)
    assert file_status(root, task_id) == TaskStatus.CREATED


def test_terminal_marker_is_written_once(tmp_path: Path) -> None:
    root, _ = Root.init(tmp_path)
    data = make_task(root)
    now = datetime.now(UTC)
    winners: list[bool] = []

    def finish(status: TaskStatus) -> None:
        winners.append(mark_finished(root, data.id, FinishedMarker(status, now)))

    threads = [
        threading.Thread(target=finish, args=(s,))
        for s in [TaskStatus.SUCCESS, TaskStatus.CANCELLED] * 10
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert winners.count(True) == 1
    assert file_status(root, data.id) in (TaskStatus.SUCCESS, TaskStatus.CANCELLED)
    assert not [p for p in root.task_dir(data.id).iterdir() if p.name.startswith(".tmp")]


def test_write_once_refuses_to_replace(tmp_path: Path) -> None:
    target = tmp_path / "marker"
    assert write_once(target, b"first")
    assert not write_once(target, b"second")
    assert target.read_bytes() == b"first"


def test_listing_and_last(tmp_path: Path) -> None:
    root, _ = Root.init(tmp_path)
    assert last_task_id(root) is None
    made = create_tasks(root, [TaskSpec(("true",))] * 5, cwd=tmp_path, submit=False)
    assert sorted(iter_task_ids(root)) == sorted(made)
    assert last_task_id(root) == made[-1]
    single = create_tasks(root, [TaskSpec(("true",))], cwd=tmp_path, submit=False)
    assert last_task_id(root) == single[0]


def test_driver_config_is_per_machine(tmp_path: Path) -> None:
    root, _ = Root.init(tmp_path)
    root.save_machine_config(
        MachineConfig([DriverEntry("local", {"max_cores": 2})], "local"), "laptop"
    )
    assert root.machine_config("laptop").default == "local"
    assert root.machine_config("cluster-head").drivers == []


def test_driver_options_merge_and_an_empty_value_resets_one(tmp_path: Path) -> None:
    from hipercow_core.drivers.registry import configure_driver

    root, _ = Root.init(tmp_path)
    configure_driver(root, "local", {"max_cores": "3"})
    assert root.machine_config().drivers[0].options == {"max_cores": 3, "conda_executable": None}
    configure_driver(root, "local", {"max_cores": ""})
    assert root.machine_config().drivers[0].options == {"max_cores": None, "conda_executable": None}
