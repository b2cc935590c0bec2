"""The task store, sharded by the first two digits of the id: `tasks/ab/cdef...`.

A task is two things side by side: its data, `tasks/ab/cdef....json`, written
once at creation (the task exists when this file does), and its directory,
`tasks/ab/cdef.../`, made when the task is submitted (or earlier if it has
input files), holding the append-only status markers (`submitted.json`,
`running.json`, then one `finished.json`), the task's `log` and its driver's
files. Keeping the data beside the directory makes creating thousands of
tasks one file each, instead of a directory and a file. Each file has exactly
one writer, so a submitter and a node never rewrite the same file, and every
write is atomic, so a reader sees a file whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import msgspec

from hipercow_core.errors import CorruptFileError, InvalidTaskIdError, TaskNotFoundError
from hipercow_core.fsutil import (
    atomic_write,
    atomic_write_many,
    decode,
    no_links,
    read_bytes,
    remove_tree,
    retry_sharing,
    write_once,
    writing,
)
from hipercow_core.ids import validate_task_id
from hipercow_core.processes import OPEN_FLAGS
from hipercow_core.root import Root
from hipercow_core.schema import (
    FinishedMarker,
    RunningMarker,
    SubmittedMarker,
    TaskData,
    TaskStatus,
)

DATA_SUFFIX = ".json"
SUBMITTED = "submitted.json"
RUNNING = "running.json"
FINISHED = "finished.json"
LOG = "log"
NOTES = "notes.log"
LAST = "last"
RETRIED_BY = "retried_by"

ID_FILE_LENGTH = 30 + len(DATA_SUFFIX)
_PARALLEL_FROM = 500
_WRITERS = 4
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_finished_decoder = msgspec.json.Decoder(FinishedMarker)
_data_decoder = msgspec.json.Decoder(TaskData)
_submitted_decoder = msgspec.json.Decoder(SubmittedMarker)
_running_decoder = msgspec.json.Decoder(RunningMarker)
# A retry chain longer than this is a cycle planted on disk, not a history.
MAX_CHAIN = 10_000
REMOVE_HINT = (
    "Remove the task with 'hipercow purge --status unreadable', or restore the file from a backup."
)


class Markers(NamedTuple):
    """The status markers present for a task; absent ones are None."""

    submitted: SubmittedMarker | None
    running: RunningMarker | None
    finished: FinishedMarker | None


def data_path(root: Root, task_id: str) -> str:
    """The file holding a task's data, beside its directory."""
    return root.task_path(task_id) + DATA_SUFFIX


def write_task(root: Root, data: TaskData, files: Mapping[str, bytes] | None = None) -> None:
    """Write a new task: its input files, then its data (whose presence means complete)."""
    write_tasks(root, [(data, files or {})])


def write_tasks(root: Root, tasks: Iterable[tuple[TaskData, Mapping[str, bytes]]]) -> None:
    """Write many new tasks: one data file each, written through a temporary name.

    Temporary names carry the task id, unique in the shard, so writers never
    collide. A task's directory is made here only when it has input files.
    Large batches are written shard by shard on a few threads: creating a
    file waits on the filesystem, and waits in different directories overlap.
    An input given to many tasks as the same bytes object (a map's function,
    pickled once) is written once and hard-linked into the other tasks'
    directories, copied where the filesystem has no links: 10,000 calls of
    a function holding 5 MB keep 5 MB, not 50 GB.
    All or nothing: when a write fails (a full disk), every task of the batch
    written so far is removed again, temporary files included, so a failed
    creation leaves no half-made tasks.
    """
    encode = msgspec.json.Encoder().encode
    by_shard: dict[str, list[tuple[str, bytes, Mapping[str, bytes]]]] = {}
    for data, files in tasks:
        shard, name = os.path.split(root.task_path(data.id))
        by_shard.setdefault(shard, []).append((name, encode(data), files))
    for shard in by_shard:
        no_links(root.path, shard)
    try:
        with writing(root.tasks_dir):
            shared = _write_shared(by_shard)
            _write_shards(by_shard, shared)
    except BaseException:
        for shard, batch in by_shard.items():
            for name, _, _ in batch:
                _unwrite(shard, name)
        raise


#: A shard's new tasks: (name, encoded data, input files); and every shard's, by directory.
_Batch = list[tuple[str, bytes, Mapping[str, bytes]]]
_Shards = dict[str, _Batch]


def _write_shared(by_shard: _Shards) -> dict[int, str]:
    """Write each input that several tasks share (the same object) into the first of them.

    Returns where each was written, by the object's id: the other tasks link to it.
    """
    uses = Counter(id(c) for batch in by_shard.values() for _, _, f in batch for c in f.values())
    written: dict[int, str] = {}
    if all(count == 1 for count in uses.values()):
        return written
    for shard, batch in by_shard.items():
        for name, _, files in batch:
            for file_name, content in files.items():
                key = id(content)
                if uses[key] > 1 and key not in written:
                    task_dir = f"{shard}{os.sep}{name}"
                    os.makedirs(task_dir, exist_ok=True)  # the task is new: the directory is ours
                    written[key] = _write_input(task_dir, file_name, content)
    return written


def _write_shards(by_shard: _Shards, shared: dict[int, str]) -> None:
    if sum(len(batch) for batch in by_shard.values()) < _PARALLEL_FROM:
        for shard, batch in by_shard.items():
            _write_shard(shard, batch, shared)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        futures = [pool.submit(_write_shard, s, b, shared) for s, b in by_shard.items()]
        errors = [e for future in futures if (e := future.exception()) is not None]
    if errors:
        raise errors[0]


def _write_shard(shard: str, batch: _Batch, shared: dict[int, str]) -> None:
    os.makedirs(shard, exist_ok=True)
    for name, encoded, files in batch:
        if files:
            task_dir = f"{shard}{os.sep}{name}"
            with contextlib.suppress(FileExistsError):  # made already if it holds a shared input
                os.mkdir(task_dir)
            for file_name, content in files.items():
                target = f"{task_dir}{os.sep}{file_name}"
                first = shared.get(id(content))
                if first == target:
                    continue
                if first is not None:
                    try:
                        os.link(first, target)
                        continue
                    except OSError:  # no hard links here (some network shares): a copy
                        pass
                _write_input(task_dir, file_name, content)
        temporary = f"{shard}{os.sep}.tmp-{name}"
        _write_new(temporary, encoded)
        os.replace(temporary, f"{shard}{os.sep}{name}{DATA_SUFFIX}")


def _write_input(task_dir: str, file_name: str, content: bytes) -> str:
    """One input file of a new task, through a temporary name; its path."""
    path = f"{task_dir}{os.sep}{file_name}"
    _write_new(f"{task_dir}{os.sep}.tmp-{file_name}", content)
    os.replace(f"{task_dir}{os.sep}.tmp-{file_name}", path)
    return path


def _unwrite(shard: str, name: str) -> None:
    """Remove whatever `_write_shard` wrote of one new task (its id is fresh, so it is ours)."""
    for path in (f"{shard}{os.sep}{name}{DATA_SUFFIX}", f"{shard}{os.sep}.tmp-{name}"):
        with contextlib.suppress(OSError):
            os.unlink(path)
    with contextlib.suppress(OSError):
        shutil.rmtree(f"{shard}{os.sep}{name}")


def _write_new(path: str, content: bytes) -> None:
    fd = os.open(path, _NEW_FILE, 0o666)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


def ensure_task_dir(root: Root, task_ids: Iterable[str]) -> None:
    """Make the directories of tasks about to be submitted, for markers, logs and driver files.

    The shard directories above them are checked for links once each, and a
    task directory that already exists is checked itself, so a batch of
    1,000 new tasks costs one mkdir each.
    """
    shards: set[str] = set()
    path = str(root.path)
    with writing(root.tasks_dir):
        for task_id in task_ids:
            path = root.task_path(task_id)
            shard = os.path.dirname(path)
            if shard not in shards:
                no_links(root.path, shard)
                os.makedirs(shard, exist_ok=True)
                shards.add(shard)
            try:
                os.mkdir(path)
            except FileExistsError:
                no_links(shard, path)


def last_path(root: Root) -> Path:
    return root.path / LAST


def record_last(root: Root, task_id: str) -> None:
    """Remember the newest task, once per batch of creations."""
    atomic_write(root.path / LAST, task_id.encode())


def read_task_data(root: Root, task_id: str) -> TaskData:
    path = data_path(root, task_id)
    raw = read_bytes(path)
    if raw is None:
        raise TaskNotFoundError(
            f"task '{task_id}' does not exist in this root",
            "Check the id with 'hipercow task list'.",
        )
    return decode(path, raw, _data_decoder, REMOVE_HINT)


def data_readable(root: Root, task_id: str) -> bool:
    """False when the task's data file exists but cannot be decoded."""
    raw = read_bytes(data_path(root, task_id))
    if raw is None:
        return True
    try:
        _data_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    return True


def task_exists(root: Root, task_id: str) -> bool:
    return os.path.isfile(data_path(root, task_id))


def _status_in(task_dir: str, names: Iterable[str]) -> TaskStatus:
    present = set(names)
    if FINISHED in present:
        path = os.path.join(task_dir, FINISHED)
        raw = read_bytes(path)
        if raw is not None:
            return decode(path, raw, _finished_decoder, REMOVE_HINT).status
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
        exists = os.path.exists(task_dir + DATA_SUFFIX)
        return TaskStatus.CREATED if exists else TaskStatus.MISSING
    return _status_in(task_dir, names)


def _followed_status(root: Root, task_id: str) -> tuple[str, TaskStatus]:
    """The latest retry of a task and its status, one directory listing per task of the chain."""
    start = task_id
    for _ in range(MAX_CHAIN):
        task_dir = root.task_path(task_id)
        try:
            names = os.listdir(task_dir)
        except FileNotFoundError:
            exists = os.path.exists(task_dir + DATA_SUFFIX)
            return task_id, TaskStatus.CREATED if exists else TaskStatus.MISSING
        if RETRIED_BY in names:
            following = _read_link(os.path.join(task_dir, RETRIED_BY))
            if following is not None:
                if following == start:
                    raise _cycle(root, start)
                task_id = following
                continue
        return task_id, _status_in(task_dir, names)
    raise _cycle(root, start)


def _cycle(root: Root, task_id: str) -> CorruptFileError:
    path = os.path.join(root.task_path(task_id), RETRIED_BY)
    return CorruptFileError(
        path,
        f"the retries of task {task_id} form a cycle ('{path}' leads back to it)",
        "Remove the 'retried_by' file of the last real retry, or purge the tasks "
        "with 'hipercow purge --status unreadable'.",
    )


def _read_link(path: str) -> str | None:
    """The task id a `retried_by` file names (None when absent or still empty)."""
    raw = read_bytes(path)
    if not raw:
        return None
    try:
        return validate_task_id(raw.decode("utf-8", errors="replace").strip())
    except InvalidTaskIdError:
        raise CorruptFileError(
            path, f"'{path}' is unreadable (it names no task id)", REMOVE_HINT
        ) from None


def file_statuses(
    root: Root, task_ids: Sequence[str], *, follow: bool = False, strict: bool = False
) -> dict[str, tuple[str, TaskStatus]]:
    """For each task: (itself or, with `follow`, its latest retry; that task's file status).

    A task with a corrupt file is `unreadable` so the others are still shown;
    with `strict` the error naming the file is raised instead. Read serially:
    each read is a short system call, and threads cost more in hand-offs than
    they save here (unlike creating files; see `write_tasks`).
    """
    result: dict[str, tuple[str, TaskStatus]] = {}
    for t in task_ids:
        try:
            result[t] = _followed_status(root, t) if follow else (t, file_status(root, t))
        except CorruptFileError:
            if strict:
                raise
            result[t] = (t, TaskStatus.UNREADABLE)
    return result


def read_submitted(root: Root, task_id: str) -> SubmittedMarker | None:
    path = os.path.join(root.task_path(task_id), SUBMITTED)
    raw = read_bytes(path)
    return decode(path, raw, _submitted_decoder, REMOVE_HINT) if raw else None


def read_finished(root: Root, task_id: str) -> FinishedMarker | None:
    """The terminal marker alone: one read, for code that looks at many ended tasks."""
    path = os.path.join(root.task_path(task_id), FINISHED)
    raw = read_bytes(path)
    return decode(path, raw, _finished_decoder, REMOVE_HINT) if raw else None


def read_markers(root: Root, task_id: str) -> Markers:
    task_dir = root.task_dir(task_id)
    submitted, running, finished = (task_dir / SUBMITTED, task_dir / RUNNING, task_dir / FINISHED)
    raw_submitted, raw_running, raw_finished = map(read_bytes, (submitted, running, finished))
    return Markers(
        decode(submitted, raw_submitted, _submitted_decoder, REMOVE_HINT)
        if raw_submitted
        else None,
        decode(running, raw_running, _running_decoder, REMOVE_HINT) if raw_running else None,
        decode(finished, raw_finished, _finished_decoder, REMOVE_HINT) if raw_finished else None,
    )


def _in_task_dir(root: Root, task_id: str, name: str) -> Path:
    """A file in the task's directory, which is made if the task has none yet.

    Never through a link planted in the root: the marker would land elsewhere.
    """
    task_dir = root.task_dir(task_id)
    no_links(root.path, task_dir)
    with writing(task_dir):
        task_dir.mkdir(exist_ok=True)
    return task_dir / name


def mark_submitted(root: Root, task_id: str, marker: SubmittedMarker) -> None:
    """Record a submission; a re-submission replaces the earlier record."""
    atomic_write(_in_task_dir(root, task_id, SUBMITTED), msgspec.json.encode(marker))


def mark_submitted_many(root: Root, markers: Mapping[str, SubmittedMarker]) -> None:
    """`mark_submitted` for a batch whose directories `ensure_task_dir` just made."""
    encode = msgspec.json.Encoder().encode
    atomic_write_many(
        (f"{root.task_path(task_id)}{os.sep}{SUBMITTED}", encode(marker))
        for task_id, marker in markers.items()
    )


def mark_running(root: Root, task_id: str, marker: RunningMarker) -> None:
    atomic_write(_in_task_dir(root, task_id, RUNNING), msgspec.json.encode(marker))


def claim_running(root: Root, task_id: str, marker: RunningMarker) -> bool:
    """Write the running marker unless the task has one; True if this call wrote it.

    For runners that take tasks from a shared queue (the worker pool): the
    marker is then also the claim, so a task handed out twice runs once,
    for one file per task rather than a claim file and a marker.
    """
    return write_once(_in_task_dir(root, task_id, RUNNING), msgspec.json.encode(marker))


def read_running(root: Root, task_id: str) -> RunningMarker | None:
    path = os.path.join(root.task_path(task_id), RUNNING)
    raw = read_bytes(path)
    return decode(path, raw, _running_decoder, REMOVE_HINT) if raw else None


def mark_finished(root: Root, task_id: str, marker: FinishedMarker) -> bool:
    """Write the terminal marker unless one exists; True if this call wrote it."""
    return write_once(_in_task_dir(root, task_id, FINISHED), msgspec.json.encode(marker))


def mark_retried(root: Root, task_id: str, retry_id: str) -> bool:
    """Link a task to its retry; write-once, so retry chains stay linear."""
    return write_once(_in_task_dir(root, task_id, RETRIED_BY), retry_id.encode())


def retried_by(root: Root, task_id: str) -> str | None:
    return _read_link(os.path.join(root.task_path(task_id), RETRIED_BY))


def append_note(root: Root, task_id: str, line: str) -> None:
    """Add a timestamped line to what hipercow noted about the task (shown in the outer log).

    Written only by the machine that submitted, checked or cancelled the
    task, never by its node, so the file keeps one writer at a time.
    """
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    path = _in_task_dir(root, task_id, NOTES)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | OPEN_FLAGS
    with writing(path):
        fd = os.open(path, flags, 0o666)
        try:
            os.write(fd, f"hipercow: {line} ({stamp})\n".encode())
        finally:
            os.close(fd)


def read_notes(root: Root, task_id: str) -> str | None:
    raw = read_bytes(os.path.join(root.task_path(task_id), NOTES))
    return raw.decode(errors="replace") if raw is not None else None


def log_path(root: Root, task_id: str) -> Path:
    return root.task_dir(task_id) / LOG


def read_log(root: Root, task_id: str) -> bytes | None:
    """The task's output as written (any bytes), or None before it started writing."""
    return read_bytes(log_path(root, task_id))


def remove_task(root: Root, task_id: str) -> None:
    """Delete a task: its data first, so a half-removed task reads as missing.

    A shard or task directory that is a symbolic link is refused, never
    followed: deleting through it would delete outside the root.
    """
    task_dir = root.task_path(task_id)
    no_links(root.path, task_dir)
    with writing(task_dir), contextlib.suppress(FileNotFoundError):
        retry_sharing(lambda: os.unlink(task_dir + DATA_SUFFIX))
    with writing(task_dir):
        remove_tree(task_dir)


def iter_task_ids(root: Root) -> Iterator[str]:
    """Every task id in the root (each has its data file), in no particular order."""
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
                    if len(entry.name) == ID_FILE_LENGTH and entry.name.endswith(DATA_SUFFIX):
                        yield shard.name + entry.name[:30]


class TaskSummary(NamedTuple):
    """What `task list` needs of a task, read in one pass over its directory."""

    id: str
    status: TaskStatus
    created: datetime | None
    data: TaskData | None
    problem: str | None = None  # for an unreadable task: which file, and why


def summarise(root: Root, task_id: str) -> TaskSummary:
    """Status and data of one task from its files; a corrupt file makes it `unreadable`."""
    task_dir = root.task_path(task_id)
    path = task_dir + DATA_SUFFIX
    raw = read_bytes(path)
    if raw is None:
        return TaskSummary(task_id, TaskStatus.MISSING, None, None)
    try:
        data = decode(path, raw, _data_decoder, REMOVE_HINT)
        try:
            status = _status_in(task_dir, os.listdir(task_dir))
        except FileNotFoundError:
            status = TaskStatus.CREATED
    except CorruptFileError as e:
        return TaskSummary(task_id, TaskStatus.UNREADABLE, None, None, e.message)
    return TaskSummary(task_id, status, data.created, data)


def last_task_id(root: Root) -> str | None:
    raw = read_bytes(root.path / LAST)
    if raw is None:
        return None
    try:
        return validate_task_id(raw.decode("utf-8", errors="replace").strip())
    except InvalidTaskIdError:
        path = root.path / LAST
        raise CorruptFileError(
            str(path),
            f"'{path}' is unreadable (it names no task id)",
            f"Remove '{path}'; the next task created writes it again.",
        ) from None


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
    "remove_task",
    "summarise",
    "task_exists",
    "validate_task_id",
    "write_task",
]
