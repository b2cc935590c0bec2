"""Every resource field maps to the sbatch argument Slurm understands for it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from hipercow_core.resources import parse_resources, resolve_hold_until
from hipercow_core.schema import ClusterInfo, HoldUntil, Resources
from hipercow_slurm.options import SlurmOptions
from hipercow_slurm.sbatch_args import (
    array_arg,
    begin_time,
    dependency_args,
    resource_args,
    task_args,
)

NOW = datetime(2026, 3, 4, 10, 30).astimezone()  # a Wednesday morning


@pytest.fixture
def args(dev_cluster: ClusterInfo) -> Callable[..., list[str]]:
    """sbatch arguments for resources, on the development cluster unless told otherwise."""

    def make(
        resources: Resources,
        options: SlurmOptions | None = None,
        cluster: ClusterInfo | None = None,
    ) -> list[str]:
        return resource_args(
            resources, cluster=cluster or dev_cluster, options=options or SlurmOptions()
        )

    return make


Args = Callable[..., list[str]]


def test_defaults_ask_for_one_core_on_one_node(args: Args) -> None:
    assert args(Resources()) == ["--nodes=1", "--cpus-per-task=1"]


def test_cores_become_cpus_per_task(args: Args) -> None:
    assert "--cpus-per-task=2" in args(Resources(cores=2))


def test_whole_node_is_exclusive_with_all_cores_and_memory(args: Args) -> None:
    result = args(Resources(cores="node"))
    assert "--exclusive" in result
    assert "--cpus-per-task=2" in result
    assert "--mem=0" in result


def test_whole_node_uses_the_smallest_node_it_may_land_on(
    args: Args, mixed_cluster: ClusterInfo
) -> None:
    cluster = mixed_cluster
    assert "--cpus-per-task=8" in args(Resources(cores="node"), cluster=cluster)
    fat = args(Resources(cores="node", queue="fat"), cluster=cluster)
    assert "--cpus-per-task=64" in fat
    pinned = args(Resources(cores="node", requested_nodes=("big",)), cluster=cluster)
    assert "--cpus-per-task=64" in pinned


def test_whole_node_with_memory_keeps_the_memory_asked_for(args: Args) -> None:
    result = args(Resources(cores="node", memory_per_node=3000))
    assert "--mem=3000M" in result
    assert "--mem=0" not in result


def test_memory_per_node_is_mem(args: Args) -> None:
    assert "--mem=4000M" in args(parse_resources(memory_per_node="4G"))


def test_memory_per_task_is_spread_over_the_tasks_cores(args: Args) -> None:
    assert "--mem-per-cpu=1500M" in args(Resources(memory_per_task=1500))
    # 1001 MB over 2 cores rounds up, so the task gets at least what it asked for.
    assert "--mem-per-cpu=501M" in args(Resources(cores=2, memory_per_task=1001))


def test_both_memories_give_the_larger_per_node(args: Args) -> None:
    result = args(Resources(memory_per_node=2000, memory_per_task=3000))
    assert "--mem=3000M" in result
    assert not any(a.startswith("--mem-per-cpu") for a in result)


def test_max_runtime_is_time_in_minutes(args: Args) -> None:
    assert "--time=90" in args(parse_resources(max_runtime="1h30"))


def test_a_resolved_hold_is_begin(dev_cluster: ClusterInfo) -> None:
    begin = resolve_hold_until(HoldUntil(kind="tonight"), NOW)
    result = task_args(Resources(), cluster=dev_cluster, options=SlurmOptions(), begin=begin)
    assert "--begin=2026-03-04T19:00:00" in result
    later = NOW + timedelta(hours=2)
    result = task_args(Resources(), cluster=dev_cluster, options=SlurmOptions(), begin=later)
    assert f"--begin={begin_time(later)}" in result


def test_one_requested_node_is_a_nodelist(args: Args) -> None:
    assert "--nodelist=n2" in args(Resources(requested_nodes=("n2",)))


def test_several_requested_nodes_exclude_the_others(args: Args) -> None:
    """--nodelist=a,b would allocate both nodes; the task needs any one of them."""
    result = args(Resources(requested_nodes=("n1", "n3")))
    assert "--exclude=n2" in result
    assert not any(a.startswith("--nodelist") for a in result)
    assert args(Resources(requested_nodes=("n1", "n2", "n3"))) == args(Resources())


def test_exclusive(args: Args) -> None:
    assert "--exclusive" in args(Resources(exclusive=True))
    assert "--exclusive" not in args(Resources())


def test_low_priority_is_nice(args: Args) -> None:
    assert "--nice=100" in args(Resources(priority="low"))
    assert "--nice=5000" in args(Resources(priority="low"), SlurmOptions(low_priority_nice=5000))
    assert not any(a.startswith("--nice") for a in args(Resources(priority="normal")))


def test_queue_is_partition_and_the_configured_one_is_the_default(args: Args) -> None:
    assert "--partition=short" in args(Resources(queue="short"))
    configured = SlurmOptions(partition="main")
    assert "--partition=main" in args(Resources(), configured)
    assert "--partition=short" in args(Resources(queue="short"), configured)


def test_account_and_qos_come_from_the_options(args: Args) -> None:
    result = args(Resources(), SlurmOptions(account="proj1", qos="high"))
    assert "--account=proj1" in result
    assert "--qos=high" in result


def test_mapping_is_deterministic_so_equal_tasks_share_an_array(args: Args) -> None:
    resources = parse_resources(cores=2, max_runtime="30m", memory_per_task="1G", priority="low")
    assert args(resources) == args(resources)


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        ([], []),
        (["12"], ["--dependency=afterok:12", "--kill-on-invalid-dep=yes"]),
        (["12", "13_4"], ["--dependency=afterok:12:13_4", "--kill-on-invalid-dep=yes"]),
    ],
)
def test_dependencies(jobs: list[str], expected: list[str]) -> None:
    assert dependency_args(jobs) == expected


def test_after_any_dependencies_join_afterok_with_a_comma() -> None:
    assert dependency_args([], ["7"]) == ["--dependency=afterany:7", "--kill-on-invalid-dep=yes"]
    assert dependency_args(["5"], ["7", "8_1"]) == [
        "--dependency=afterok:5,afterany:7:8_1",
        "--kill-on-invalid-dep=yes",
    ]


def test_array_spec_with_and_without_a_limit() -> None:
    assert array_arg(1001, None) == "--array=0-1000"
    assert array_arg(10, 3) == "--array=0-9%3"
