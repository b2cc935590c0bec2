"""Parsing what Slurm printed on the development cluster (captured in data/)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hipercow_slurm.cluster_info import build, max_array_size, max_job_count, min_job_age
from hipercow_slurm.parsing import (
    decode_wait_status,
    normalise_state,
    parse_config,
    parse_exit_code,
    parse_sacct,
    parse_scancel_errors,
    parse_sinfo,
    parse_squeue,
    parse_submitted,
    parse_submitted_job_id,
    parse_time_limit,
)

Captured = Callable[[str], str]


def test_squeue_states_of_live_and_finished_jobs(captured: Captured) -> None:
    early = parse_squeue(captured("squeue-early.txt"))
    assert early["11"].state == "PENDING"
    assert early["11"].reason == "BeginTime"
    assert early["14"].state == "RUNNING"
    assert early["15"].state == "CANCELLED"
    assert early["9"].state == "FAILED"
    assert (early["9"].exit_code, early["9"].signal) == (3, 0)
    assert (early["10"].exit_code, early["10"].signal) == (0, 9)
    assert (early["17"].exit_code, early["17"].signal) == (137, 0)
    assert early["8"].reason is None
    assert early["8"].restarts == 0

    late = parse_squeue(captured("squeue-late.txt"))
    assert late["16"].state == "TIMEOUT"
    assert late["16"].signal == 15
    assert [late[f"12_{i}"].exit_code for i in range(4)] == [0, 1, 2, 3]
    assert {f"13_{i}" for i in range(5)} <= late.keys()


def test_squeue_shows_requeues_and_launch_failures(captured: Captured) -> None:
    late = parse_squeue(captured("squeue-late.txt"))
    assert (late["20"].state, late["20"].restarts) == ("PENDING", 1)
    # The output file's directory was missing: slurmd's error 4021, not a wait status.
    assert late["18"].launch_error == 4021
    assert late["18"].signal is None


def test_sacct_takes_128_off_exit_codes_and_shows_launch_errors_as_signals(
    captured: Captured,
) -> None:
    states = parse_sacct(captured("sacct.txt"))
    assert (states["9"].exit_code, states["9"].signal) == (3, 0)
    assert (states["17"].exit_code, states["17"].signal) == (9, 0)  # it was exit 137
    assert (states["10"].exit_code, states["10"].signal) == (0, 9)
    assert states["18"].launch_error == 53
    assert states["15"].state == "CANCELLED"
    assert (states["8"].name, states["8"].source) == ("wrap", "sacct")
    assert states["8"].submitted == "2026-12-01T09:55:38"


def test_wait_status_decoding() -> None:
    assert decode_wait_status("768") == (3, 0)
    assert decode_wait_status("9") == (0, 9)
    assert decode_wait_status("N/A") == (None, None)


def test_sinfo_nodes_and_partitions(captured: Captured) -> None:
    summary = parse_sinfo(captured("sinfo-node.txt"))
    assert [n.name for n in summary.nodes] == ["n1", "n2", "n3"]
    n1 = summary.nodes[0]
    assert (n1.cores, n1.memory, n1.queues) == (2, 4000, ("main", "short"))
    assert summary.default_queue == "main"
    queues = {q.name: q for q in summary.queues}
    assert queues["main"].default
    assert queues["main"].max_runtime is None
    assert queues["main"].nodes == ("n1", "n2", "n3")
    assert queues["short"].max_runtime == 10
    assert queues["short"].nodes == ("n1",)


def test_sinfo_keeps_flagged_states() -> None:
    summary = parse_sinfo("n2|2|4000|down*|main*|infinite\nn3|2|4000+|drained|main*|infinite\n")
    assert [n.state for n in summary.nodes] == ["down*", "drained"]
    assert summary.nodes[1].memory == 4000


def test_config_and_cluster_info(captured: Captured) -> None:
    config = parse_config(captured("scontrol-show-config.txt"))
    assert config["MaxArraySize"] == "1001"
    assert config["ClusterName"] == "hipercow"
    info = build(captured("sinfo-node.txt"), captured("scontrol-show-config.txt"))
    assert (info.name, info.driver, info.max_cores, info.max_memory) == (
        "hipercow",
        "slurm",
        2,
        4000,
    )
    assert info.default_queue == "main"
    assert max_array_size(info) == 1001
    assert info.extra["slurm_version"] == "22.05.8"
    assert (min_job_age(info), max_job_count(info)) == (300, 10000)


def test_scancel_errors_name_the_jobs_not_cancelled(captured: Captured) -> None:
    errors = parse_scancel_errors(captured("scancel-verbose.stderr"))
    assert set(errors) == {"2", "99999"}
    assert "completed" in errors["2"]


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("infinite", None),
        ("UNLIMITED", None),
        ("n/a", None),
        ("10:00", 10),
        ("30", 30),
        ("1:30:00", 90),
        ("2-00:00:00", 2880),
        ("1-12", 2160),
        ("0:30", 1),
    ],
)
def test_time_limits(text: str, minutes: int | None) -> None:
    assert parse_time_limit(text) == minutes


def test_sbatch_job_id() -> None:
    assert parse_submitted_job_id("1234\n") == "1234"
    assert parse_submitted("1234;othercluster\n") == ("1234", "othercluster")
    assert parse_submitted("1234\n") == ("1234", None)
    with pytest.raises(ValueError):
        parse_submitted_job_id("sbatch: error: nope")


def test_sacct_allocations() -> None:
    # Format of `sacct --noheader --parsable2 --allocations --format=JobID,State,ExitCode`
    # (the development cluster has no accounting to capture from).
    states = parse_sacct(
        "17|TIMEOUT|0:0\n18_3|CANCELLED by 0|0:15\n19|FAILED|2:0\n19.batch|FAILED|2:0\n"
    )
    assert states["17"].state == "TIMEOUT"
    assert states["18_3"].state == "CANCELLED"
    assert (states["19"].exit_code, states["19"].signal) == (2, 0)
    assert "19.batch" not in states


def test_state_names_are_normalised() -> None:
    assert normalise_state("CANCELLED by 1000") == "CANCELLED"
    assert normalise_state("node_fail+") == "NODE_FAIL"
    assert parse_exit_code("0:15") == (0, 15)
