"""The slurm driver's own files in a task directory, and the outer log made from them.

Slurm can only name output files from job numbers (`%A`, `%a`), never from
hipercow's task ids, so an array job writes one file per array index into
its batch directory (`hipercow/slurm/jobs/NAME/INDEX.out`), while a single
job writes straight into its task directory (`slurm.out`). Either way the
submitter leaves `slurm.json` in the task directory saying which job runs the
task and where Slurm writes its output, so the outer log is found per task
without a symlink (which SMB shares may not support).

`slurm-driver.log` holds the driver's own notes about the job (what Slurm
said when the job ended without the task recording an outcome), written
only by the submitting machine, never by the node.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path, PurePosixPath

import msgspec

from hipercow_core.drivers.protocol import task_file
from hipercow_core.fsutil import atomic_write, read_bytes
from hipercow_core.root import Root

RECORD = "slurm.json"
SINGLE_OUTPUT = "slurm.out"
NOTES = "slurm-driver.log"
MISSING = "slurm-missing"
JOBS_DIR = "slurm/jobs"


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


def jobs_dir(root: Root) -> Path:
    return root.path / JOBS_DIR


def relative(root: Root, path: Path) -> str:
    return PurePosixPath(path.relative_to(root.path)).as_posix()


def write_record(root: Root, task_id: str, record: JobRecord) -> None:
    atomic_write(task_file(root, task_id, RECORD), msgspec.json.encode(record))


def read_record(root: Root, task_id: str) -> JobRecord | None:
    raw = read_bytes(task_file(root, task_id, RECORD))
    return msgspec.json.decode(raw, type=JobRecord) if raw else None


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
