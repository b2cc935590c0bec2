"""The slurm driver's own files in a task directory, and the outer log made from them.

Slurm can only name output files from job numbers (`%A`, `%a`), never from
hipercow's task ids, so an array job writes one file per array index into
its batch directory (`hipercow/slurm/jobs/NAME/INDEX.out`), while a single
job writes straight into its task directory (`slurm.out`). Either way the
submitter leaves `slurm.json` in the task directory saying which job runs the
task and where Slurm writes its output, so the outer log is found per task
without a symlink (which SMB shares may not support).

A single job's task gets that record of its own (`slurm.json`); the tasks of
an array share one (`hipercow/slurm/arrays/JOBID.json`, listing them in index
order), found from the array job id in each task's submitted marker, so that
submitting 1,000 tasks writes one record, not 1,000. A record whose list does
not hold the task at that index (job ids reused after a cluster's ids were
reset) is not that task's.

`slurm-driver.log` holds the driver's own notes about the job (what Slurm
said when the job ended without the task recording an outcome), written
only by the submitting machine, never by the node.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath

import msgspec

from hipercow_core.drivers.protocol import task_file
from hipercow_core.fsutil import atomic_write, no_links, read_bytes
from hipercow_core.root import Root
from hipercow_core.store import read_markers, task_exists

RECORD = "slurm.json"
SCRIPT = "job.sh"
SINGLE_OUTPUT = "slurm.out"
NOTES = "slurm-driver.log"
MISSING = "slurm-missing"
JOBS_DIR = "slurm/jobs"
ARRAYS_DIR = "slurm/arrays"


class JobRecord(msgspec.Struct, frozen=True):
    """Which Slurm job runs a task, and where Slurm writes that job's output.

    `output` and `script` are relative to the root directory (POSIX), so the
    record stays true on a machine that mounts the share elsewhere.
    """

    job_id: str
    output: str
    script: str
    submitted: datetime

    @property
    def job_name(self) -> str:
        """The name the job was submitted with: its batch directory's (jobs/NAME/job.sh)."""
        return PurePosixPath(self.script).parent.name


class ArrayRecord(msgspec.Struct, frozen=True):
    """One job array: its batch directory (under slurm/jobs) and its tasks by index."""

    job_id: str
    name: str
    task_ids: tuple[str, ...]
    submitted: datetime

    def task_record(self, index: int) -> JobRecord:
        batch = PurePosixPath(JOBS_DIR, self.name)
        return JobRecord(
            f"{self.job_id}_{index}",
            (batch / f"{index}.out").as_posix(),
            (batch / SCRIPT).as_posix(),
            self.submitted,
        )


def jobs_dir(root: Root) -> Path:
    return root.path / JOBS_DIR


def relative(root: Root, path: Path) -> str:
    return PurePosixPath(path.relative_to(root.path)).as_posix()


def write_record(root: Root, task_id: str, record: JobRecord) -> None:
    atomic_write(task_file(root, task_id, RECORD), msgspec.json.encode(record))


def write_array_record(root: Root, record: ArrayRecord) -> None:
    path = root.path / ARRAYS_DIR / f"{record.job_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, msgspec.json.encode(record))


def read_record(root: Root, task_id: str, job_id: str | None = None) -> JobRecord | None:
    """The task's job and output: its own record, else its array's (from `job_id`).

    Without `job_id` it is read from the task's submitted marker.
    """
    raw = read_bytes(task_file(root, task_id, RECORD))
    if raw:
        return _record_decoder.decode(raw)
    if job_id is None:
        marker = read_markers(root, task_id).submitted
        job_id = marker.job_id if marker is not None else None
    array, _, index = (job_id or "").partition("_")
    if not index.isdigit():
        return None
    found = _array(root, array)
    position = int(index)
    if found is None or position >= len(found.task_ids) or found.task_ids[position] != task_id:
        return None
    return found.task_record(position)


_record_decoder = msgspec.json.Decoder(JobRecord)
_array_decoder = msgspec.json.Decoder(ArrayRecord)
#: Array records read by this process: a status of 1,000 tasks reads each array once.
_arrays: dict[tuple[str, str], ArrayRecord] = {}


def _array(root: Root, job_id: str) -> ArrayRecord | None:
    key = (str(root.path), job_id)
    if key not in _arrays:
        raw = read_bytes(root.path / ARRAYS_DIR / f"{job_id}.json")
        if not raw:
            return None
        try:
            _arrays[key] = _array_decoder.decode(raw)
        except msgspec.DecodeError:
            return None
    return _arrays[key]


def forget(root: Root, jobs: Mapping[str, str]) -> None:
    """Remove what the driver keeps outside the tasks' directories for jobs being purged.

    A single job's batch directory goes with its task. An array's record and
    batch directory go once every task it lists is being purged or already
    gone, so purging some of a bundle keeps the rest's outer logs.
    """
    arrays: set[str] = set()
    for task_id, job_id in jobs.items():
        array, sep, index = job_id.partition("_")
        if sep and index.isdigit():
            arrays.add(array)
            continue
        with contextlib.suppress(msgspec.DecodeError):  # a garbled record keeps its batch
            record = read_record(root, task_id, job_id)
            if record is not None:
                _remove_batch(root, record.job_name)
    for array in sorted(arrays):
        found = _array(root, array)
        if found is None or not all(t in jobs or not task_exists(root, t) for t in found.task_ids):
            continue
        _remove_batch(root, found.name)
        path = root.path / ARRAYS_DIR / f"{array}.json"
        no_links(root.path, path)
        path.unlink(missing_ok=True)
        _arrays.pop((str(root.path), array), None)


def _remove_batch(root: Root, name: str) -> None:
    """Remove one job's batch directory (script, array outputs), never through a link."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        return
    path = jobs_dir(root) / name
    no_links(root.path, path)
    shutil.rmtree(path, ignore_errors=True)


def note(root: Root, task_id: str, line: str) -> None:
    """Add a timestamped line to the driver's notes on this task's job."""
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    with task_file(root, task_id, NOTES).open("a", encoding="utf-8") as f:
        f.write(f"hipercow: {line} ({stamp})\n")


def read_output(root: Root, record: JobRecord) -> str | None:
    raw = read_bytes(root.path / record.output)
    return raw.decode(errors="replace") if raw is not None else None


def read_notes(root: Root, task_id: str) -> str | None:
    raw = read_bytes(task_file(root, task_id, NOTES))
    return raw.decode(errors="replace") if raw is not None else None


def missing_since(root: Root, task_id: str) -> datetime | None:
    """When the driver first found the task's job in neither squeue nor sacct, if it did."""
    raw = read_bytes(task_file(root, task_id, MISSING))
    try:
        return datetime.fromisoformat(raw.decode().strip()) if raw else None
    except ValueError:
        return None


def mark_missing(root: Root, task_id: str, when: datetime) -> datetime:
    """Remember the first time the job was missing (kept if already set); that time."""
    earlier = missing_since(root, task_id)
    if earlier is not None:
        return earlier
    atomic_write(task_file(root, task_id, MISSING), when.isoformat().encode())
    return when


def clear_missing(root: Root, task_id: str) -> None:
    """The job was found again (sacct caught up): start any later grace period afresh."""
    task_file(root, task_id, MISSING).unlink(missing_ok=True)
