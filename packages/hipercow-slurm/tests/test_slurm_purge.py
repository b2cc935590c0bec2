"""Purging tasks also removes what the slurm driver kept outside their directories.

Array records (`hipercow/slurm/arrays/JOBID.json`) and batch directories
(`hipercow/slurm/jobs/NAME/`: the script, and an array's outputs) would
otherwise outlive every task they served. No cluster is needed: the files
are those a submission leaves, and the purge is core's own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from hipercow_core.drivers.registry import configure_driver
from hipercow_core.purge import plan_purge, purge_tasks
from hipercow_core.root import Root
from hipercow_core.schema import FinishedMarker, SubmittedMarker, TaskData, TaskStatus
from hipercow_core.store import mark_finished, mark_submitted, write_task
from hipercow_slurm.jobfiles import (
    ARRAYS_DIR,
    ArrayRecord,
    JobRecord,
    jobs_dir,
    write_array_record,
    write_record,
)

ARRAY = ("a" * 32, "b" * 32, "c" * 32)
SINGLE = "d" * 32


@pytest.fixture
def root(tmp_path: Path) -> Root:
    root, _ = Root.init(tmp_path)
    configure_driver(root, "slurm", {})
    return root


def finished_job(root: Root, task_id: str, job_id: str) -> None:
    data = TaskData(
        id=task_id,
        kind="shell",
        command=("true",),
        path=".",
        created=datetime.now(UTC),
        driver="slurm",
    )
    write_task(root, data)
    mark_submitted(root, task_id, SubmittedMarker(datetime.now(UTC), "slurm", job_id=job_id))
    mark_finished(root, task_id, FinishedMarker(TaskStatus.SUCCESS, datetime.now(UTC)))


def batch(root: Root, name: str, *files: str) -> Path:
    directory = jobs_dir(root) / name
    directory.mkdir(parents=True)
    for file in ("job.sh", *files):
        (directory / file).write_text("x\n")
    return directory


@pytest.fixture
def submitted(root: Root) -> tuple[Path, Path]:
    """Three tasks of array job 700 and one single job 701, all finished."""
    for index, task_id in enumerate(ARRAY):
        finished_job(root, task_id, f"700_{index}")
    now = datetime.now(UTC)
    write_array_record(root, ArrayRecord("700", "sweep-1a2b", ARRAY, now))
    array_dir = batch(root, "sweep-1a2b", "0.out", "1.out", "2.out")
    finished_job(root, SINGLE, "701")
    write_record(
        root,
        SINGLE,
        JobRecord("701", f"hipercow/tasks/{SINGLE}/slurm.out", "slurm/jobs/one-3c4d/job.sh", now),
    )
    return array_dir, batch(root, "one-3c4d")


def purge(root: Root, task_ids: tuple[str, ...]) -> None:
    """Purge only these of the finished tasks (as a purge by bundle or age would)."""
    plan = plan_purge(root, statuses=[TaskStatus.SUCCESS])
    purge_tasks(
        root, msgspec.structs.replace(plan, tasks=tuple(t for t in plan.tasks if t.id in task_ids))
    )


def test_purging_every_task_of_an_array_removes_its_record_and_batch_directory(
    root: Root, submitted: tuple[Path, Path]
) -> None:
    array_dir, single_dir = submitted
    purge_tasks(root, plan_purge(root, statuses=[TaskStatus.SUCCESS]))
    assert not (root.path / ARRAYS_DIR / "700.json").exists()
    assert not array_dir.exists() and not single_dir.exists()
    assert list(jobs_dir(root).iterdir()) == []


def test_purging_part_of_an_array_keeps_what_the_rest_needs(
    root: Root, submitted: tuple[Path, Path]
) -> None:
    array_dir, single_dir = submitted
    purge(root, (ARRAY[0], SINGLE))
    assert (root.path / ARRAYS_DIR / "700.json").exists() and (array_dir / "1.out").exists()
    assert not single_dir.exists()
    purge(root, ARRAY[1:])
    assert not (root.path / ARRAYS_DIR / "700.json").exists() and not array_dir.exists()
