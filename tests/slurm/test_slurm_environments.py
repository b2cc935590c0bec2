"""Environments on the real Slurm cluster: provisioned as a Slurm job, used by tasks on the nodes."""

from __future__ import annotations

import json

import pytest
from slurm.helpers import User, scontrol_job

from hipercow_testing import write_fasta

pytestmark = pytest.mark.slurm

MISSING = "hipercow-no-such-package-4f1e"


def history(slurm: User, name: str) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = json.loads(
        slurm.cli("environment", "history", name, "--json").stdout
    )
    return entries


def test_environment_is_provisioned_by_a_slurm_job_and_used_on_the_nodes(slurm: User) -> None:
    cli = slurm.cli
    cli("environment", "new", "default")
    done = cli("environment", "provision", "default", "six==1.16.0", timeout=300)
    assert "+ six==1.16.0" in done.stdout  # the job's log, followed live
    assert "Provisioned 'default'" in done.stdout
    [entry] = history(slurm, "default")
    attempt = entry["attempt"]
    result = entry["result"]
    assert isinstance(attempt, dict) and isinstance(result, dict)
    assert entry["status"] == "success" and attempt["driver"] == "slurm"
    job = slurm.info(attempt["task_id"])
    assert job["driver"] == "slurm" and job["job_id"]
    assert job["data"]["environment"] == "empty"  # never built from inside itself
    assert result["host"] != "" and "Slurm job" in slurm.outer_log(attempt["task_id"])

    # a task imports a package only its environment has, on a node
    code = "import os, sys, six; (six.__version__, os.environ['SLURMD_NODENAME'], sys.prefix)"
    task_id = slurm.create("--python", code)
    assert slurm.wait(task_id, timeout=120) == "success"
    version, node, prefix = json.loads(cli("task", "result", task_id, "--json").stdout)
    assert version == "1.16.0" and node.startswith("n")
    assert "/hipercow/environments/default/builds/" in prefix
    shell = slurm.create("--", "python", "-c", "import six; print(six.__version__)")
    assert slurm.wait(shell, timeout=120) == "success"
    assert cli("task", "log", shell).stdout.strip() == "1.16.0"

    # a failed attempt on the cluster: non-zero, recorded with its log
    failed = cli("environment", "provision", "default", MISSING, check=False, timeout=300)
    assert failed.code == 1 and MISSING in failed.stderr
    assert [e["status"] for e in history(slurm, "default")] == ["success", "failure"]
    assert MISSING in cli("environment", "log", "default", "2").stdout


def test_provisioning_goes_to_the_build_partition(slurm: User) -> None:
    slurm.cli("driver", "configure", "slurm", "build_partition=short")
    slurm.cli("environment", "new", "built")
    slurm.cli("environment", "provision", "built", "six==1.16.0", timeout=300)
    [entry] = history(slurm, "built")
    attempt = entry["attempt"]
    assert isinstance(attempt, dict)
    job = slurm.info(attempt["task_id"])
    assert job["data"]["resources"]["queue"] == "short"
    assert scontrol_job(job["job_id"])["Partition"] == "short"


def test_conda_environment_built_by_a_slurm_job_and_used_on_the_nodes(
    slurm: User, conda_channel: str
) -> None:
    """py-rattler solves and installs inside the Slurm job; tasks on the nodes run the tool."""
    cli = slurm.cli
    cli("environment", "new", "bio", "--engine", "conda", "--channel", conda_channel)
    done = cli(
        "environment",
        "provision",
        "bio",
        "mini-align=1.0",
        "seqnames",
        "python",
        "refgenome",
        timeout=300,
    )
    assert "Provisioned 'bio'" in done.stdout and "package cache (node-local)" in done.stdout
    [entry] = history(slurm, "bio")
    attempt = entry["attempt"]
    assert isinstance(attempt, dict) and attempt["driver"] == "slurm"
    assert slurm.info(attempt["task_id"])["job_id"]

    write_fasta(slurm.root.project)
    script = 'mini-align ref.fa reads.fa; echo "$SLURMD_NODENAME $REFGENOME_VERSION"'
    task_id = slurm.create("--environment", "bio", "--", "sh", "-c", script)
    assert slurm.wait(task_id, timeout=120) == "success"
    aligned, tagged = cli("task", "log", task_id).stdout.strip().rsplit("\n", 1)
    assert aligned == "r1\tchr1\t7\nr2\t*\t0"
    node, version = tagged.split()
    assert node.startswith("n") and version == "2.0"
    code = "import seqnames, sys; (seqnames.__version__, sys.prefix)"
    py_task = slurm.create("--environment", "bio", "--python", code)
    assert slurm.wait(py_task, timeout=120) == "success"
    version, prefix = json.loads(cli("task", "result", py_task, "--json").stdout)
    assert version == "0.2" and "/hipercow/environments/bio/builds/" in prefix

    # a bump on the cluster: compare shows the tool and its library updated
    cli(
        "environment",
        "provision",
        "bio",
        "mini-align=2.0",
        "seqnames",
        "python",
        "refgenome",
        timeout=300,
    )
    comparison = json.loads(cli("environment", "compare", "bio", "--json").stdout)
    updated = {c["name"] for c in comparison["changes"] if c["change"] == "updated"}
    assert updated == {"mini-align", "libfasta"}


def test_a_configured_conda_executable_is_what_the_slurm_job_runs(
    slurm: User, conda_channel: str
) -> None:
    """`conda_executable` in the driver's options reaches the job, which runs that tool.

    No micromamba can be installed here, so the one named does not exist: the
    job's log shows the command line it ran, and the attempt fails saying so.
    """
    cli = slurm.cli
    cli("driver", "configure", "slurm", "conda_executable=/nonexistent/bin/micromamba")
    cli("environment", "new", "bio", "--engine", "conda", "--channel", conda_channel)
    failed = cli("environment", "provision", "bio", "mini-align", check=False, timeout=300)
    assert failed.code == 1 and "cannot run '/nonexistent/bin/micromamba'" in failed.stderr
    [entry] = history(slurm, "bio")
    attempt = entry["attempt"]
    assert isinstance(attempt, dict)
    assert attempt["engine_options"] == {"conda_executable": "/nonexistent/bin/micromamba"}
    log = cli("environment", "log", "bio").stdout
    assert "$ /nonexistent/bin/micromamba create --yes --prefix " in log
    assert (
        f"--no-rc --override-channels --strict-channel-priority --channel {conda_channel} mini-align"
        in log
    )
