"""The task store: one directory per task, sharded by the id's first two digits.

A task directory holds `data.json` (written once at creation), append-only
status markers (`submitted.json`, `running.json`, then one `finished.json`),
the task's `log` and any files its driver keeps. Each file has exactly one
writer, so a submitter and a node never rewrite the same file, and every write
is atomic, so a reader sees a file whole or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import msgspec

from hipercow_core.errors import TaskNotFoundError
from hipercow_core.fsutil import atomic_write, read_bytes, write_once
from hipercow_core.ids import validate_task_id
from hipercow_core.root import Root
from hipercow_core.schema import (
    FinishedMarker,
    RunningMarker,
    SubmittedMarker,
    TaskData,
    TaskStatus,
)

DATA = "data.json"
SUBMITTED = "submitted.json"
RUNNING = "running.json"
FINISHED = "finished.json"
LOG = "log"
LAST = "last"
RETRIED_BY = "retried_by"

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_finished_decoder = msgspec.json.Decoder(FinishedMarker)
_data_decoder = msgspec.json.Decoder(TaskData)


class Markers(NamedTuple):
    """The status markers present for a task; absent ones are None."""

    submitted: SubmittedMarker | None
    running: RunningMarker | None
    finished: FinishedMarker | None


def write_task(root: Root, data: TaskData, files: Mapping[str, bytes] | None = None) -> None:
    """Write a new task and its input files; `data.json` goes last, so its presence means complete."""
    write_tasks(root, [(data, files or {})])


def write_tasks(root: Root, tasks: Iterable[tuple[TaskData, Mapping[str, bytes]]]) -> None:
    """Write many new tasks, each a fresh directory written through a temporary name.

    The directory is new and ours alone (`mkdir` fails if it exists), so a
    fixed temporary name inside it is safe; this keeps creating 10,000 tasks
    to a few system calls each.
    """
    encode = msgspec.json.Encoder().encode
    shards: set[str] = set()
    for data, files in tasks:
        task_dir = root.task_path(data.id)
        shard = os.path.dirname(task_dir)
        if shard not in shards:
            os.makedirs(shard, exist_ok=True)
            shards.add(shard)
        os.mkdir(task_dir)
        for name, content in (*files.items(), (DATA, encode(data))):
            temporary = f"{task_dir}{os.sep}.tmp-{name}"
            fd = os.open(temporary, _NEW_FILE, 0o666)
            try:
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(temporary, f"{task_dir}{os.sep}{name}")


def record_last(root: Root, task_id: str) -> None:
    """Remember the newest task, once per batch of creations."""
    atomic_write(root.path / LAST, task_id.encode())


def read_task_data(root: Root, task_id: str) -> TaskData:
    raw = read_bytes(root.task_dir(task_id) / DATA)
    if raw is None:
        raise TaskNotFoundError(
            f"task '{task_id}' does not exist in this root",
            "Check the id with 'hipercow task list'.",
        )
    return _data_decoder.decode(raw)


def task_exists(root: Root, task_id: str) -> bool:
    return (root.task_dir(task_id) / DATA).is_file()


def _status_in(task_dir: str, names: Iterable[str]) -> TaskStatus:
    present = set(names)
    if FINISHED in present:
        raw = read_bytes(os.path.join(task_dir, FINISHED))
        if raw is not None:
            return _finished_decoder.decode(raw).status
    if RUNNING in present:
        return TaskStatus.RUNNING
    if SUBMITTED in present:
        return TaskStatus.SUBMITTED
    return TaskStatus.CREATED


def file_status(root: Root, task_id: str) -> TaskStatus:
    """A task's status as its files tell it, without asking any scheduler."""
    task_dir = root.task_path(task_id)
    try:
        names = os.listdir(task_dir)
    except FileNotFoundError:
        return TaskStatus.MISSING
    return _status_in(task_dir, names)


def read_markers(root: Root, task_id: str) -> Markers:
    task_dir = root.task_dir(task_id)
    submitted = read_bytes(task_dir / SUBMITTED)
    running = read_bytes(task_dir / RUNNING)
    finished = read_bytes(task_dir / FINISHED)
    return Markers(
        msgspec.json.decode(submitted, type=SubmittedMarker) if submitted else None,
        msgspec.json.decode(running, type=RunningMarker) if running else None,
        _finished_decoder.decode(finished) if finished else None,
    )


def mark_submitted(root: Root, task_id: str, marker: SubmittedMarker) -> None:
    """Record a submission; a re-submission replaces the earlier record."""
    atomic_write(root.task_dir(task_id) / SUBMITTED, msgspec.json.encode(marker))


def mark_running(root: Root, task_id: str, marker: RunningMarker) -> None:
    atomic_write(root.task_dir(task_id) / RUNNING, msgspec.json.encode(marker))


def mark_finished(root: Root, task_id: str, marker: FinishedMarker) -> bool:
    """Write the terminal marker unless one exists; True if this call wrote it."""
    return write_once(root.task_dir(task_id) / FINISHED, msgspec.json.encode(marker))


def mark_retried(root: Root, task_id: str, retry_id: str) -> bool:
    """Link a task to its retry; write-once, so retry chains stay linear."""
    return write_once(root.task_dir(task_id) / RETRIED_BY, retry_id.encode())


def retried_by(root: Root, task_id: str) -> str | None:
    raw = read_bytes(os.path.join(root.task_path(task_id), RETRIED_BY))
    return validate_task_id(raw.decode()) if raw else None


def latest_retry(root: Root, task_id: str) -> str:
    """The end of a task's retry chain (the task itself if never retried)."""
    current = task_id
    while (following := retried_by(root, current)) is not None:
        current = following
    return current


def log_path(root: Root, task_id: str) -> Path:
    return root.task_dir(task_id) / LOG


def iter_task_ids(root: Root) -> Iterator[str]:
    """Every complete-or-being-made task id in the root, in no particular order."""
    try:
        shards = os.scandir(root.tasks_dir)
    except FileNotFoundError:
        return
    with shards:
        for shard in shards:
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            with os.scandir(shard.path) as entries:
                for entry in entries:
                    if len(entry.name) == 30:
                        yield shard.name + entry.name


class TaskSummary(NamedTuple):
    """What `task list` needs of a task, read in one pass over its directory."""

    id: str
    status: TaskStatus
    created: datetime | None
    data: TaskData | None


def summarise(root: Root, task_id: str) -> TaskSummary:
    """Status and data of one task from its files; a half-made task is `created`."""
    task_dir = root.task_path(task_id)
    try:
        names = os.listdir(task_dir)
    except FileNotFoundError:
        return TaskSummary(task_id, TaskStatus.MISSING, None, None)
    raw = read_bytes(os.path.join(task_dir, DATA)) if DATA in names else None
    data = _data_decoder.decode(raw) if raw is not None else None
    status = _status_in(task_dir, names)
    return TaskSummary(task_id, status, data.created if data else None, data)


def last_task_id(root: Root) -> str | None:
    raw = read_bytes(root.path / LAST)
    if raw is None:
        return None
    task_id = raw.decode().strip()
    validate_task_id(task_id)
    return task_id


__all__ = [
    "Markers",
    "TaskSummary",
    "file_status",
    "iter_task_ids",
    "last_task_id",
    "log_path",
    "mark_finished",
    "mark_running",
    "mark_submitted",
    "read_markers",
    "read_task_data",
    "summarise",
    "task_exists",
    "validate_task_id",
    "write_task",
]
