"""A per-machine cache of what `task list` shows, so listing a large root stays fast.

The task store is the truth; this is only a cache under `cache/<host>/`,
safe to delete. Task data never changes and terminal statuses never change,
so those are kept for good. Other statuses are kept with the task
directory's modification time and re-read only when a marker has been added
since (writing a file into a directory changes its mtime). Entries younger
than a couple of seconds are not trusted, since coarse mtimes could hide a
marker written just after.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime

import msgspec

from hipercow_core.errors import HipercowError
from hipercow_core.fsutil import atomic_write, read_bytes
from hipercow_core.root import Root
from hipercow_core.schema import TaskKind, TaskStatus
from hipercow_core.store import DATA_SUFFIX, ID_FILE_LENGTH, summarise

INDEX_FILE = "tasks.index"
INDEX_VERSION = 5
SETTLE_NS = 2_000_000_000
NO_DIRECTORY = 0  # a task not yet submitted has a data file but no directory


class IndexEntry(msgspec.Struct, array_like=True):
    status: TaskStatus
    created: datetime | None
    kind: TaskKind | None
    command: tuple[str, ...]
    environment: str | None
    mtime_ns: int
    name: str | None = None
    tags: dict[str, str] = {}
    bundle: str | None = None
    problem: str | None = None


class TaskIndex(msgspec.Struct):
    version: int = INDEX_VERSION
    entries: dict[str, IndexEntry] = {}


class ListedTask(msgspec.Struct, frozen=True):
    id: str
    status: TaskStatus
    created: datetime | None
    kind: TaskKind | None
    command: tuple[str, ...]
    environment: str | None
    name: str | None = None
    tags: dict[str, str] = {}
    bundle: str | None = None
    problem: str | None = None  # an unreadable task: which file, and why


def _load(root: Root) -> TaskIndex:
    raw = read_bytes(root.cache_dir() / INDEX_FILE)
    if raw is None:
        return TaskIndex()
    try:
        index = msgspec.msgpack.decode(raw, type=TaskIndex)
    except msgspec.DecodeError:
        return TaskIndex()
    return index if index.version == INDEX_VERSION else TaskIndex()


def _scan(tasks_dir: str) -> Iterator[tuple[str, str]]:
    """(id, directory) of every task, from the names of the data files alone."""
    try:
        shards = os.scandir(tasks_dir)
    except FileNotFoundError:
        return
    with shards:
        for shard in shards:
            if len(shard.name) != 2:
                continue
            with os.scandir(shard.path) as entries:
                for entry in entries:
                    name = entry.name
                    if len(name) == ID_FILE_LENGTH and name.endswith(DATA_SUFFIX):
                        yield shard.name + name[:30], entry.path[: -len(DATA_SUFFIX)]


def indexed_tasks(root: Root) -> list[ListedTask]:
    """Every task with its status from the files, using and refreshing the cache."""
    index = _load(root)
    now_ns = time.time_ns()
    seen: dict[str, IndexEntry] = {}
    changed = False
    for task_id, directory in _scan(str(root.tasks_dir)):
        cached = index.entries.get(task_id)
        if cached is not None and cached.status.is_terminal:
            seen[task_id] = cached
            continue
        try:
            mtime_ns = os.stat(directory).st_mtime_ns
        except FileNotFoundError:
            mtime_ns = NO_DIRECTORY
        if cached is not None and cached.mtime_ns == mtime_ns and cached.created is not None:
            seen[task_id] = cached
            continue
        summary = summarise(root, task_id)
        data = summary.data
        trusted = data is not None and (mtime_ns == NO_DIRECTORY or now_ns - mtime_ns > SETTLE_NS)
        seen[task_id] = IndexEntry(
            summary.status,
            summary.created,
            data.kind if data else None,
            data.command if data else (),
            data.environment if data else None,
            mtime_ns if trusted else -1,
            name=data.name if data else None,
            tags=dict(data.tags) if data else {},
            bundle=data.bundle if data else None,
            problem=summary.problem,
        )
        changed = True
    if changed or len(seen) != len(index.entries):
        _save(root, TaskIndex(entries=seen))
    return [
        ListedTask(
            task_id,
            e.status,
            e.created,
            e.kind,
            e.command,
            e.environment,
            name=e.name,
            tags=e.tags,
            bundle=e.bundle,
            problem=e.problem,
        )
        for task_id, e in seen.items()
    ]


def _save(root: Root, index: TaskIndex) -> None:
    try:
        root.cache_dir().mkdir(parents=True, exist_ok=True)
        atomic_write(root.cache_dir() / INDEX_FILE, msgspec.msgpack.encode(index))
    except (OSError, HipercowError):
        pass  # only a cache: a read-only or full disk must not break listing
