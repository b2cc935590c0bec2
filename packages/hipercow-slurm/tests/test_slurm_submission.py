"""Submitting: few sbatch calls, markers only for accepted tasks, everything else left created.

sbatch is a stand-in on PATH that records its arguments and answers with job
ids, so these tests check what the driver asks of Slurm, not what Slurm does.
Submission goes through core (`jobs.submit`), which orders dependencies and
writes the markers, as it does for a user.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from hipercow_core import jobs
from hipercow_core.drivers.protocol import JobRequest, SubmitReport
from hipercow_core.errors import DriverError
from hipercow_core.resources import parse_resources
from hipercow_core.root import Root
from hipercow_core.schema import (
    ClusterInfo,
    FinishedMarker,
    Resources,
    TaskData,
    TaskStatus,
)
from hipercow_core.store import file_status, mark_finished, read_markers, write_task
from hipercow_slurm import jobfiles
from hipercow_slurm.commands import Budget
from hipercow_slurm.driver import SlurmDriver
from hipercow_slurm.jobfiles import read_record
from hipercow_slurm.options import SlurmOptions
from hipercow_slurm.submission import Submission

SBATCH = """#!/bin/sh
n=$(( $(cat "{dir}/next" 2>/dev/null || echo 100) + 1 ))
echo $n > "{dir}/next"
for last; do :; done
printf '%s\\n' "$*" >> "{dir}/calls"
cp "$last" "{dir}/script-$n.sh"
echo $n
"""


@pytest.fixture
def root(tmp_path: Path) -> Root:
    root, _ = Root.init(tmp_path / "project")
    return root


@pytest.fixture
def sbatch(fake_bin: Path) -> Path:
    script = fake_bin / "sbatch"
    script.write_text(SBATCH.format(dir=fake_bin))
    script.chmod(0o755)
    return fake_bin


def calls(sbatch: Path) -> list[str]:
    log = sbatch / "calls"
    return log.read_text().splitlines() if log.exists() else []


def new_task(
    root: Root, n: int, resources: Resources | None = None, depends_on: tuple[str, ...] = ()
) -> str:
    task_id = f"{n:032x}"
    write_task(
        root,
        TaskData(
            id=task_id,
            kind="shell",
            command=("true",),
            path=".",
            created=datetime.now(UTC),
            resources=resources or Resources(),
            driver="slurm",
            depends_on=depends_on,
        ),
    )
    return task_id


class DescribedCluster(SlurmDriver):
    """The slurm driver for the cluster a test describes, with the time budget it sets."""

    def __init__(
        self, root: Root, options: SlurmOptions, cluster: ClusterInfo, budget: float
    ) -> None:
        super().__init__(root, options)
        self.cluster = cluster
        self.budget = budget

    def submit(self, requests: Sequence[JobRequest]) -> SubmitReport:
        return Submission(self.root, self.options, self.cluster, Budget(self.budget)).run(requests)


def submit(
    root: Root,
    ids: list[str],
    cluster: ClusterInfo,
    options: SlurmOptions | None = None,
    budget: float = 20,
) -> DriverError | None:
    driver = DescribedCluster(root, options or SlurmOptions(), cluster, budget)
    try:
        jobs.submit(root, driver, ids)
    except DriverError as e:
        return e
    return None


def test_tasks_with_equal_resources_share_an_array(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    small = [new_task(root, i) for i in range(3)]
    big = [new_task(root, 10 + i, Resources(cores=2)) for i in range(2)]
    assert submit(root, [small[0], big[0], small[1], big[1], small[2]], dev_cluster) is None
    made = calls(sbatch)
    assert len(made) == 2
    assert "--array=0-2" in made[0]
    assert "--cpus-per-task=2" in made[1]
    jobs = [read_markers(root, t).submitted for t in small + big]
    assert [m.job_id if m else None for m in jobs] == ["101_0", "101_1", "101_2", "102_0", "102_1"]
    script = (sbatch / "script-101.sh").read_text()
    assert script.index(small[0]) < script.index(small[1]) < script.index(small[2])


def test_each_task_knows_where_slurm_writes_its_output(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    pair = [new_task(root, i) for i in range(2)]
    single = new_task(root, 5, Resources(cores=2))
    submit(root, [*pair, single], dev_cluster)
    first = read_record(root, pair[0])
    second = read_record(root, pair[1])
    alone = read_record(root, single)
    assert first is not None and second is not None and alone is not None
    assert first.output.startswith("slurm/jobs/") and first.output.endswith("/0.out")
    assert second.output.endswith("/1.out")
    assert alone.output == f"tasks/{single[:2]}/{single[2:]}/slurm.out"
    assert f"--output={root.path / alone.output}" in calls(sbatch)[1]


def test_2500_tasks_take_three_sbatch_calls(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    ids = [new_task(root, i) for i in range(2500)]
    assert submit(root, ids, dev_cluster) is None
    made = calls(sbatch)
    assert len(made) == 3
    assert all("--array=0-83" in call for call in made)  # 834 + 833 + 833
    assert all(file_status(root, t) == TaskStatus.SUBMITTED for t in ids)


def test_array_limit_and_extra_arguments(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    ids = [new_task(root, i) for i in range(4)]
    options = SlurmOptions(array_limit=2, sbatch_args=["--comment=hi"])
    submit(root, ids, dev_cluster, options)
    (call,) = calls(sbatch)
    assert "--array=0-3%2" in call
    assert call.index("--cpus-per-task") < call.index("--comment=hi")


def test_a_hold_resolves_once_so_the_batch_shares_an_array(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    held = parse_resources(hold_until="tonight")
    ids = [new_task(root, i, held) for i in range(3)]
    submit(root, ids, dev_cluster)
    (call,) = calls(sbatch)
    assert "--begin=" in call


def test_refused_tasks_stay_created(root: Root, fake_bin: Path, dev_cluster: ClusterInfo) -> None:
    refusing = fake_bin / "sbatch"
    refusing.write_text(
        "#!/bin/sh\necho 'sbatch: error: Batch job submission failed: "
        "Requested node configuration is not available' >&2\nexit 1\n"
    )
    refusing.chmod(0o755)
    ids = [new_task(root, i) for i in range(2)]
    error = submit(root, ids, dev_cluster)
    assert error is not None
    assert "2 of 2 tasks were not submitted" in error.message
    assert "Requested node configuration is not available" in error.message
    assert {file_status(root, t) for t in ids} == {TaskStatus.CREATED}


def test_unreachable_controller_stops_the_submission(
    root: Root, fake_bin: Path, dev_cluster: ClusterInfo
) -> None:
    down = fake_bin / "sbatch"
    down.write_text(
        f'#!/bin/sh\necho x >> "{fake_bin}/tries"\n'
        "echo 'sbatch: error: Batch job submission failed: Unable to contact slurm "
        "controller (connect failure)' >&2\nexit 1\n"
    )
    down.chmod(0o755)
    squeue = fake_bin / "squeue"  # asked whether a lost answer had created the job
    squeue.write_text("#!/bin/sh\nexit 0\n")
    squeue.chmod(0o755)
    ids = [new_task(root, 1), new_task(root, 2, Resources(cores=2))]
    error = submit(root, ids, dev_cluster, budget=1.5)
    assert error is not None
    assert "cannot reach the Slurm controller" in error.message
    assert error.hint
    assert {file_status(root, t) for t in ids} == {TaskStatus.CREATED}
    tries = (fake_bin / "tries").read_text().count("x")
    assert tries >= 2  # retried the first job, and did not go on to the second


def test_dependencies_wait_for_their_jobs(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    first = new_task(root, 1)
    second = new_task(root, 2, depends_on=(first,))
    assert submit(root, [second, first], dev_cluster) is None
    made = calls(sbatch)
    assert len(made) == 2
    assert "--dependency" not in made[0]
    assert "--dependency=afterok:101" in made[1]
    assert "--kill-on-invalid-dep=yes" in made[1]


def test_a_task_whose_dependency_failed_fails_without_a_job(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    first = new_task(root, 1)
    mark_finished(root, first, FinishedMarker(TaskStatus.FAILURE, datetime.now(UTC)))
    second = new_task(root, 2, depends_on=(first,))
    assert submit(root, [second], dev_cluster) is None
    assert calls(sbatch) == []
    finished = read_markers(root, second).finished
    assert finished is not None
    assert (finished.status, finished.reason) == (TaskStatus.FAILURE, "dependency failed")


def test_saved_job_record_is_relative_to_the_root(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    task_id = new_task(root, 1)
    submit(root, [task_id], dev_cluster)
    raw = msgspec.json.decode((root.task_dir(task_id) / "slurm.json").read_bytes())
    assert not raw["output"].startswith("/")
    assert raw["job_id"] == "101"


def test_a_chain_behind_a_failed_task_fails_whole(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    first = new_task(root, 1)
    mark_finished(root, first, FinishedMarker(TaskStatus.FAILURE, datetime.now(UTC)))
    second = new_task(root, 2, depends_on=(first,))
    third = new_task(root, 3, depends_on=(second,))
    assert submit(root, [third, second], dev_cluster) is None
    assert calls(sbatch) == []
    assert {file_status(root, t) for t in (second, third)} == {TaskStatus.FAILURE}


# A cluster whose account already holds 40 of its 45 jobs (other users' jobs, which
# `squeue --me` does not show): sbatch refuses whatever would go over, as Slurm does.
LIMITED_SBATCH = """#!/bin/sh
queued=$(cat "{dir}/queued")
for arg; do case "$arg" in --array=0-*) size=${{arg#--array=0-}}; size=$((size + 1));; esac; done
size=${{size:-1}}
printf '%s\\n' "$size" >> "{dir}/calls"
if [ $((queued + size)) -gt 45 ]; then
  echo "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy" \\
    "(job submit limit, user's size and/or time limits)" >&2
  exit 1
fi
echo $((queued + size)) > "{dir}/queued"
echo $((100 + size))
"""


def test_a_submit_limit_counted_wrongly_still_sends_what_fits(
    root: Root, fake_bin: Path, dev_cluster: ClusterInfo
) -> None:
    (fake_bin / "queued").write_text("40\n")
    for name, body in {
        "sbatch": LIMITED_SBATCH.format(dir=fake_bin),
        "sacctmgr": "#!/bin/sh\necho '15|'\n",  # MaxSubmitJobs=15 on the user
        "squeue": "#!/bin/sh\nexit 0\n",  # none of this user's jobs are queued
    }.items():
        (fake_bin / name).write_text(body)
        (fake_bin / name).chmod(0o755)
    ids = [new_task(root, i) for i in range(30)]
    error = submit(root, ids, dev_cluster)
    assert error is not None and "limit on submitted jobs" in error.message
    sizes = [int(line) for line in (fake_bin / "calls").read_text().split()]
    assert sizes[0] == 30 and sizes[1] == 15  # the whole array, then the room read
    assert all(later < earlier for earlier, later in itertools.pairwise(sizes))
    submitted = [t for t in ids if file_status(root, t) == TaskStatus.SUBMITTED]
    assert 0 < len(submitted) <= 5
    assert submitted == ids[: len(submitted)]
    assert all(file_status(root, t) == TaskStatus.CREATED for t in ids[len(submitted) :])


def test_an_array_writes_one_record_for_its_tasks_and_a_reused_id_is_not_theirs(
    root: Root, sbatch: Path, dev_cluster: ClusterInfo
) -> None:
    ids = [new_task(root, i) for i in range(3)]
    submit(root, ids, dev_cluster)
    assert not any((root.task_dir(t) / "slurm.json").exists() for t in ids)
    assert [p.name for p in (root.path / "slurm" / "arrays").iterdir()] == ["101.json"]
    third = read_record(root, ids[2])
    assert third is not None and third.job_id == "101_2" and third.output.endswith("/2.out")
    # The cluster's ids were reset and 101 is now another array, of other tasks.
    others = [new_task(root, 10 + i) for i in range(3)]
    (sbatch / "next").write_text("100\n")
    jobfiles._arrays.clear()  # a later process: nothing remembered
    submit(root, others, dev_cluster)
    assert read_record(root, ids[2]) is None
    again = read_record(root, others[2])
    assert again is not None and again.job_id == "101_2"


NARROW_SBATCH = """#!/bin/sh
for arg; do case "$arg" in --array=0-*) size=${{arg#--array=0-}}; size=$((size + 1));; esac; done
size=${{size:-1}}
printf '%s\\n' "$size" >> "{dir}/calls"
if [ "$size" -gt 11 ]; then  # MaxArraySize=11, lowered since the facts were saved
  echo "sbatch: error: Batch job submission failed: Invalid job array specification" >&2
  exit 1
fi
n=$(( $(cat "{dir}/next" 2>/dev/null || echo 100) + 1 ))
echo $n > "{dir}/next"
echo $n
"""


class SavedFacts(DescribedCluster):
    """A driver whose cluster facts were saved when MaxArraySize was larger than it is now."""

    def __init__(self, root: Root, saved: ClusterInfo, now: ClusterInfo) -> None:
        super().__init__(root, SlurmOptions(), saved, 20)
        self.now = now
        self.refreshed = 0

    def fresh_cluster_info(self) -> ClusterInfo:
        self.refreshed += 1
        return self.now

    def submit(self, requests: Sequence[JobRequest]) -> SubmitReport:
        submission = Submission(
            self.root, self.options, self.cluster, Budget(self.budget), self.fresh_cluster_info
        )
        return submission.run(requests)


def test_an_array_refused_as_too_wide_for_saved_facts_is_resent_narrower(
    root: Root, fake_bin: Path, dev_cluster: ClusterInfo
) -> None:
    (fake_bin / "sbatch").write_text(NARROW_SBATCH.format(dir=fake_bin))
    (fake_bin / "sbatch").chmod(0o755)
    saved = msgspec.structs.replace(
        dev_cluster, extra={"max_array_size": "1001", "cached_at": "2026-12-01T10:00:00+00:00"}
    )
    now = msgspec.structs.replace(dev_cluster, extra={"max_array_size": "11"})
    driver = SavedFacts(root, saved, now)
    ids = [new_task(root, i) for i in range(30)]
    jobs.submit(root, driver, ids)
    assert all(file_status(root, t) == TaskStatus.SUBMITTED for t in ids)
    assert [int(n) for n in (fake_bin / "calls").read_text().split()] == [30, 10, 10, 10]
    assert driver.refreshed == 1
