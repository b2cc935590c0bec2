"""Turning a task's resources into sbatch arguments.

Tasks whose arguments come out identical can share one job array, so this
mapping is also what groups tasks: it must be deterministic (same input, same
list in the same order). Memory is in megabytes on both sides: hipercow's MB
and Slurm's `M` are the same unit as far as RealMemory and --mem go.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from hipercow_core.base_environment import is_base_variable
from hipercow_core.errors import InvalidResourcesError
from hipercow_core.schema import ClusterInfo, Resources
from hipercow_slurm.options import SlurmOptions


def task_args(
    resources: Resources,
    *,
    cluster: ClusterInfo,
    options: SlurmOptions,
    begin: datetime | None = None,
    dependencies: Sequence[str] = (),
    after_any: Sequence[str] = (),
) -> list[str]:
    """All the per-task sbatch arguments: resources, start-not-before, dependencies.

    `begin` is resolved by core once per submission, so tasks asking to wait
    until "tonight" or "2h" agree on the time and still share an array.
    """
    return [
        *resource_args(resources, cluster=cluster, options=options, begin=begin),
        *dependency_args(dependencies, after_any),
    ]


def resource_args(
    resources: Resources,
    *,
    cluster: ClusterInfo,
    options: SlurmOptions,
    begin: datetime | None = None,
) -> list[str]:
    """sbatch arguments for one task's resources.

    `begin` is the task's hold_until already resolved, since it must be
    resolved once for a whole submission. A whole node (`cores='node'`) is an
    exclusive job with every core of the smallest eligible node and, unless
    memory was asked for, all of its memory (`--mem=0`): otherwise Slurm
    would give it only the default memory per CPU.
    """
    partition = resources.queue or options.partition
    args: list[str] = []
    if partition:
        args.append(f"--partition={partition}")
    if options.account:
        args.append(f"--account={options.account}")
    if options.qos:
        args.append(f"--qos={options.qos}")
    args.append("--nodes=1")
    whole_node = resources.cores == "node"
    cores = (
        node_cores(cluster, partition, resources.requested_nodes)
        if resources.cores == "node"
        else int(resources.cores)
    )
    args.append(f"--cpus-per-task={cores}")
    if whole_node or resources.exclusive:
        args.append("--exclusive")
    args.extend(memory_args(resources, cores, whole_node=whole_node))
    if resources.max_runtime is not None:
        args.append(f"--time={resources.max_runtime}")
    if begin is not None:
        args.append(f"--begin={begin_time(begin)}")
    args.extend(node_args(resources.requested_nodes, cluster))
    if resources.priority == "low":
        args.append(f"--nice={options.low_priority_nice}")
    return args


def memory_args(resources: Resources, cores: int, *, whole_node: bool = False) -> list[str]:
    """`--mem` for memory per node, `--mem-per-cpu` for memory per task.

    Slurm refuses both at once; when both are given the job needs the larger
    of the two on its one node, which `--mem` expresses.
    """
    per_node = resources.memory_per_node
    per_task = resources.memory_per_task
    if per_node is not None and per_task is not None:
        return [f"--mem={max(per_node, per_task)}M"]
    if per_node is not None:
        return [f"--mem={per_node}M"]
    if per_task is not None:
        return [f"--mem-per-cpu={math.ceil(per_task / cores)}M"]
    return ["--mem=0"] if whole_node else []


def node_args(requested: Sequence[str], cluster: ClusterInfo) -> list[str]:
    """Restrict the job to the requested nodes, on whichever of them is free.

    `--nodelist` means "all of these nodes", so it suits exactly one node; for
    several, every other known node is excluded instead, which leaves the
    job free to run on any one of those asked for.
    """
    if not requested:
        return []
    if len(requested) == 1:
        return [f"--nodelist={requested[0]}"]
    if not cluster.nodes:
        return [f"--nodelist={','.join(requested)}"]
    others = sorted(n.name for n in cluster.nodes if n.name not in requested)
    return [f"--exclude={','.join(others)}"] if others else []


def node_cores(cluster: ClusterInfo, partition: str | None, requested: Sequence[str]) -> int:
    """Cores of the smallest node the job may land on, so a whole-node job fits anywhere."""
    queue = cluster.queue(partition) if partition else None
    eligible = [
        n
        for n in cluster.nodes
        if (queue is None or not queue.nodes or n.name in queue.nodes)
        and (not requested or n.name in requested)
    ]
    if not eligible:
        if cluster.max_cores > 0:
            return cluster.max_cores
        raise InvalidResourcesError(
            "cores: a whole node was requested but no eligible node is known",
            "Check 'hipercow cluster info' for the nodes of the queue.",
        )
    return min(n.cores for n in eligible)


def begin_time(at: datetime) -> str:
    """A start time as sbatch reads it: local wall-clock time, to the second."""
    return at.astimezone().strftime("%Y-%m-%dT%H:%M:%S")


def dependency_args(job_ids: Sequence[str], after_any: Sequence[str] = ()) -> list[str]:
    """Start only after `job_ids` succeeded (cancel at once if one cannot) and `after_any` ended.

    Slurm's `,` between the two kinds means both must hold.
    """
    kinds = [f"afterok:{':'.join(job_ids)}"] if job_ids else []
    if after_any:
        kinds.append(f"afterany:{':'.join(after_any)}")
    if not kinds:
        return []
    return [f"--dependency={','.join(kinds)}", "--kill-on-invalid-dep=yes"]


def array_arg(count: int, limit: int | None) -> str:
    """`--array=0-N` (with `%limit`) indexing the tasks of one script."""
    spec = f"0-{count - 1}"
    return f"--array={spec}%{limit}" if limit else f"--array={spec}"


#: What a job is given of the submitting environment: all of what sbatch runs with.
EXPORT_ALL = "--export=ALL"


def submit_environment(env: Mapping[str, str]) -> dict[str, str]:
    """What sbatch runs with: the base variables and sbatch's own settings, nothing else.

    A task's environment is the machine's base variables plus what the task
    was given (see `hipercow_core.base_environment`), so a job must not carry
    the user's shell. sbatch copies its whole environment into the job with
    `--export=ALL`, so it is run with only these; `SBATCH_*` (a site's or a
    user's defaults for sbatch's options) are kept for sbatch to read. This
    gives the job what `--export=NAME,...` of the base names would, while
    Slurm starts such jobs half a second sooner here than jobs given a list.
    """
    return {
        name: value
        for name, value in env.items()
        if is_base_variable(name) or name.upper().startswith("SBATCH_")
    }


def filename_pattern(directory: str, name: str) -> str:
    """An --output pattern: `directory` as it is, `name` with Slurm's `%` symbols.

    sbatch expands `%` sequences in the whole path, so a project under a
    directory whose name has a `%` would send the output somewhere else (or
    nowhere: the job then fails to launch). `%%` is Slurm's literal `%`.
    """
    return f"{directory.replace('%', '%%').rstrip('/')}/{name}"
