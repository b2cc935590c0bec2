"""The slurm driver on a cluster configured as real ones are.

Real clusters requeue jobs, keep accounting, kill jobs over their memory,
start jobs with a bare environment, and hold thousands of jobs from many
users; the development cluster does each of these here, in the shipped
configuration or through `reconfigure` (alone on the cluster, put back
afterwards). Each test checks what a user would see.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sh
from slurm.cluster import cluster_access, configure
from slurm.helpers import Reconfigure, User, cancel_jobs_of, cluster_tool, wait_for

from hipercow_core.root import Root
from hipercow_core.store import read_markers
from hipercow_slurm.jobfiles import read_record
from hipercow_testing import Cli

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
disruptive_group = pytest.mark.xdist_group("slurm-disruptive")


def job_of(user: User, task_id: str) -> str:
    job_id: str = user.info(task_id)["job_id"]
    return job_id


def squeue_knows(job_id: str) -> bool:
    out = sh.squeue("--noheader", "--states=all", f"--jobs={job_id}", "-o", "%i", _ok_code=[0, 1])
    return job_id in str(out).split()


def counting(program: str, directory: Path) -> Path:
    """A `program` first on PATH that logs each call's arguments, then runs the real one."""
    real = shutil.which(program)
    assert real is not None
    directory.mkdir(exist_ok=True)
    log = directory / f"{program}.calls"
    wrapper = directory / program
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return log


# --------------------------------------------------------------------------- requeues


def test_a_requeued_task_shows_requeued_then_runs_again(slurm: User) -> None:
    # Like many programs, this one exits non-zero when told to stop; a requeue is not
    # its outcome, so the second run must still happen.
    script = (
        'trap "exit 3" TERM; '
        "if [ -e ran-once ]; then echo second run; exit 0; fi; "
        "touch ran-once; sleep 600 & wait"
    )
    task_id = slurm.create("--", "sh", "-c", script)
    slurm.wait_running(task_id)
    job = job_of(slurm, task_id)
    sh.scontrol("requeue", job, _timeout=60)
    wait_for(lambda: "requeued" in slurm.outer_log(task_id), timeout=60, interval=1.0)
    # The task's first run wrote no outcome, although its program exited 3.
    assert slurm.status(task_id) == "running"
    # Slurm holds a requeued job back for two minutes; let it go now.
    sh.scontrol("update", f"JobId={job}", "StartTime=now", _timeout=60)
    assert slurm.wait(task_id, timeout=180) == "success"
    assert "second run" in slurm.cli("task", "log", task_id).stdout


# --------------------------------------------------------------------------- memory


@disruptive_group
def test_a_task_over_its_memory_fails_as_out_of_memory(
    reconfigure: Reconfigure, disruptive: User
) -> None:
    reconfigure(
        "JobAcctGatherType=jobacct_gather/linux",
        "JobAcctGatherParams=OverMemoryKill",
        "JobAcctGatherFrequency=1",
    )
    task_id = disruptive.create(
        "--memory-per-task",
        "200M",
        "--",
        "python3",
        "-c",
        "import time; data = b'x' * (600 << 20); time.sleep(60)",
    )
    assert disruptive.wait(task_id, timeout=120) == "failure"
    assert disruptive.info(task_id)["reason"] == "out of memory"
    assert "exceeded memory limit" in disruptive.outer_log(task_id)


# --------------------------------------------------------------------------- exit codes


@disruptive_group
def test_an_exit_code_read_from_sacct_is_the_one_the_job_ended_with(
    reconfigure: Reconfigure, disruptive: User
) -> None:
    reconfigure("MinJobAge=5", accounting=True)
    task_id = disruptive.create("--", "sleep", "600")
    disruptive.wait_running(task_id)
    job = job_of(disruptive, task_id)
    running = read_markers(disruptive.root, task_id).running
    assert running is not None
    # The runner itself dies (as when the node's kernel kills it): nothing recorded,
    # and the batch script ends with 137, which sacct shows as `9:0`.
    os.kill(running.pid, 9)
    wait_for(lambda: not squeue_knows(job), timeout=180, interval=2.0)
    assert disruptive.wait(task_id, timeout=60) == "failure"
    info = disruptive.info(task_id)
    assert info.get("exit_code") == 137, (info, disruptive.outer_log(task_id))


def test_a_job_that_cannot_start_on_its_node_says_why(slurm: User) -> None:
    configure(slurm.cli)
    slurm.cli("driver", "configure", "slurm", "sbatch_args=--hold")
    made = slurm.cli("bulk", "create", "--data", "x=1..2", "--json", "--", "echo", "@x")
    ids = json.loads(made.stdout)["task_ids"]
    record = read_record(slurm.root, ids[0])
    assert record is not None
    # The array's output directory is gone (as when the nodes do not see the project).
    shutil.rmtree((slurm.root.path / record.output).parent)
    sh.scontrol("release", record.job_id.split("_")[0], _timeout=60)
    assert slurm.wait(ids[0], timeout=120) == "failure"
    assert slurm.info(ids[0])["reason"] == "job ended before the task started"
    assert "node_project" in slurm.outer_log(ids[0])


# --------------------------------------------------------------------------- paths


@pytest.fixture
def percent_project(tmp_path: Path) -> Iterator[User]:
    """A project under a directory whose name Slurm would expand (`%j` is the job id)."""
    directory = tmp_path / "50%job" / "project"
    directory.mkdir(parents=True)
    root, _ = Root.init(directory)
    cli = Cli(directory)
    with cluster_access(exclusive=False):
        configure(cli)
        yield User(root, cli)
        cancel_jobs_of(root)


def test_a_project_path_with_a_percent_sign_runs(percent_project: User) -> None:
    single = percent_project.create("--", "echo", "one")
    made = percent_project.cli("bulk", "create", "--data", "x=1..2", "--json", "--", "echo", "@x")
    ids = [single, *json.loads(made.stdout)["task_ids"]]
    for task_id in ids:
        assert percent_project.wait(task_id, timeout=120) == "success"
        assert "hipercow: task" in percent_project.outer_log(task_id)


# --------------------------------------------------------------------------- modules


def test_a_failing_setup_line_is_the_reason_and_a_login_shell_can_be_asked_for(
    slurm: User,
) -> None:
    # Lmod is on the nodes (the cluster tool installs it); this module does not exist.
    slurm.cli(
        "driver", "configure", "slurm", "sbatch_args=--export=NONE", "setup=module load nosuch"
    )
    first = slurm.create("--", "echo", "never")
    assert slurm.wait(first, timeout=120) == "failure"
    assert slurm.info(first)["reason"] == "job ended before the task started"
    log = slurm.outer_log(first)
    assert "the setup line 'module load nosuch' exited with code 1" in log
    assert "The following module(s) are unknown" in log  # Lmod's own message

    modules = slurm.root.project / "modulefiles"
    (modules / "greeting").mkdir(parents=True)
    (modules / "greeting" / "1.0.lua").write_text('setenv("GREETING", "hello from a module")\n')
    setup = f"setup=shopt -q login_shell && echo in a login shell; module use {modules}; module load greeting"
    slurm.cli("driver", "configure", "slurm", "login_shell=true", setup)
    second = slurm.create("--", "sh", "-c", "echo $GREETING")
    assert slurm.wait(second, timeout=120) == "success"
    assert "in a login shell" in slurm.outer_log(second)
    assert "hello from a module" in slurm.cli("task", "log", second).stdout


# --------------------------------------------------------------------------- clusters


def test_sbatch_args_for_another_cluster_are_refused(slurm: User) -> None:
    result = slurm.cli("driver", "configure", "slurm", "sbatch_args=-M elsewhere", check=False)
    assert result.code != 0
    assert "another cluster" in result.stderr
    assert "Traceback" not in result.stderr
    assert "-M" not in slurm.cli("driver", "show", "slurm").stdout


# --------------------------------------------------------------------------- polling


def test_a_shell_loop_of_status_shares_one_squeue(slurm: User, tmp_path: Path) -> None:
    made = slurm.cli(
        "bulk", "create", "--data", "x=1..6", "--json", "--", "sh", "-c", "sleep 300; echo @x"
    )
    ids = json.loads(made.stdout)["task_ids"]
    calls = counting("squeue", tmp_path / "bin")
    slurm.cli.env["PATH"] = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    started = time.monotonic()
    for task_id in ids:
        assert slurm.status(task_id) in ("submitted", "running")
    took = time.monotonic() - started
    made_calls = calls.read_text().splitlines()
    # One squeue per 2 s at most, shared by the separate processes, each asking
    # only about this user's jobs.
    assert len(made_calls) <= 1 + took / 2.0
    assert len(made_calls) < len(ids)
    assert all("--me" in call for call in made_calls)


# --------------------------------------------------------------------------- submission


def wrapped_sbatch(directory: Path, before: str = "", after: str = "") -> None:
    """An `sbatch` first on PATH that runs shell around the real one (a slow controller)."""
    real = shutil.which("sbatch")
    assert real is not None
    directory.mkdir(exist_ok=True)
    wrapper = directory / "sbatch"
    wrapper.write_text(f'#!/bin/sh\n{before}\n"{real}" "$@"\ncode=$?\n{after}\nexit $code\n')
    wrapper.chmod(0o755)


def test_a_slow_controller_takes_every_job_of_a_submission(slurm: User, tmp_path: Path) -> None:
    # Twelve tasks whose time limits differ: twelve sbatch calls, 3 s each here.
    for minutes in range(1, 13):
        slurm.cli(
            "bulk",
            "create",
            "--no-submit",
            "--max-runtime",
            str(minutes),
            "--hold-until",
            "2h",
            "--data",
            "x=1",
            "--",
            "echo",
            "@x",
        )
    wrapped_sbatch(tmp_path / "bin", before="sleep 3")
    slurm.cli.env["PATH"] = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    submitted = slurm.cli("task", "submit", timeout=300)
    assert "Submitted 12 tasks" in submitted.stdout
    listed = json.loads(slurm.cli("task", "list", "--json").stdout)
    assert sorted({t["status"] for t in listed}) == ["submitted"]


def test_a_submission_whose_answer_was_lost_is_found_not_sent_twice(
    slurm: User, tmp_path: Path
) -> None:
    # sbatch hands the job to the controller, then hangs past the driver's timeout.
    wrapped_sbatch(tmp_path / "bin", after="exec sleep 60")
    slurm.cli("driver", "configure", "slurm", "submit_timeout=5")
    slurm.cli.env["PATH"] = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    task_id = slurm.create("--hold-until", "2h", "--", "echo", "once")
    assert slurm.status(task_id) == "submitted"
    job = job_of(slurm, task_id)
    record = read_record(slurm.root, task_id)
    assert record is not None
    named = str(sh.squeue("--noheader", f"--name={record.job_name}", "--format=%i"))
    assert named.split() == [job]


@disruptive_group
def test_a_full_queue_says_so(reconfigure: Reconfigure, disruptive: User) -> None:
    reconfigure("MaxJobCount=50")
    result = disruptive.cli(
        "bulk",
        "create",
        "--hold-until",
        "2h",
        "--data",
        "x=1..60",
        "--",
        "echo",
        "@x",
        check=False,
        timeout=300,
    )
    assert result.code != 0
    assert "60 of 60 tasks were not submitted: the cluster's queue is full" in result.stderr
    assert "cannot reach" not in result.stderr
    assert "hipercow task submit" in result.stderr


@disruptive_group
def test_a_submit_limit_mid_bundle_sends_what_fits_and_counts_the_rest(
    reconfigure: Reconfigure, disruptive: User
) -> None:
    # Alone on the cluster, any job still queued is a leftover no test holds; it would
    # count towards the limit, and once MaxArraySize is smaller than its array neither
    # `squeue --array` can count it nor scancel remove it: the limit is set on an
    # empty queue.
    sh.scancel("--me", _timeout=60)
    wait_for(lambda: not str(sh.squeue("--noheader", "--me", "--format=%i")).split(), timeout=60)
    reconfigure("MaxArraySize=11", accounting=True)  # arrays of at most 10 tasks
    limit = 15
    sh.sacctmgr("-i", "modify", "user", "root", "set", f"MaxSubmitJobs={limit}", _timeout=60)
    try:
        result = disruptive.cli(
            "bulk",
            "create",
            "--hold-until",
            "2h",
            "--data",
            "x=1..30",
            "--",
            "echo",
            "@x",
            check=False,
            timeout=300,
        )
        assert result.code != 0
        assert "15 of 30 tasks were not submitted" in result.stderr
        assert "limit on submitted jobs" in result.stderr
        assert f"at most {limit} may be queued" in result.stderr
        assert "resources" not in result.stderr
        listed = json.loads(disruptive.cli("task", "list", "--json").stdout)
        counts = {s: sum(t["status"] == s for t in listed) for s in ("submitted", "created")}
        assert counts == {"submitted": 15, "created": 15}
    finally:
        sh.sacctmgr("-i", "modify", "user", "root", "set", "MaxSubmitJobs=-1", _timeout=60)


# --------------------------------------------------------------------------- accounting lag


@disruptive_group
def test_a_job_not_yet_in_accounting_is_not_lost(
    reconfigure: Reconfigure, disruptive: User
) -> None:
    reconfigure("MinJobAge=5", accounting=True)
    task_id = disruptive.create("--", "sleep", "600")
    disruptive.wait_running(task_id)
    job = job_of(disruptive, task_id)
    running = read_markers(disruptive.root, task_id).running
    assert running is not None
    cluster_tool("stop-dbd")
    try:
        os.kill(running.pid, 9)  # the job ends with no outcome recorded
        wait_for(lambda: not squeue_knows(job), timeout=180, interval=2.0)
    finally:
        cluster_tool("start-dbd")
    # slurmctld hands the job to accounting some time after slurmdbd is back.
    assert disruptive.status(task_id) == "running"
    assert disruptive.wait(task_id, timeout=180) == "failure"
    # Settled from accounting's record of the job, not as a job nobody knows.
    assert f"Slurm job {job} ended FAILED" in disruptive.outer_log(task_id)
    assert disruptive.info(task_id).get("exit_code") == 137
