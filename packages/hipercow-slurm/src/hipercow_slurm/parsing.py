"""Reading what Slurm's commands print, as plain data.

Every command is asked for a machine-friendly format (fixed fields joined by
`|`, no header) so parsing never depends on column widths or locale; these
functions are pure and are tested against outputs captured from a real
cluster (tests/data).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import msgspec

from hipercow_core.schema import NodeInfo, QueueInfo

#: squeue -O fields: the job id as `<job>` or `<array job>_<index>`, state,
#: raw wait status (exit code << 8 | signal), how often Slurm requeued the job,
#: and the reason, last because reasons may contain spaces and commas.
SQUEUE_FORMAT = "JobArrayID:0|,State:0|,exit_code:0|,RestartCnt:0|,Reason:0"
#: sinfo per node and partition: name, CPUs, memory (MB), state, partition
#: (`*` marks the default), and the partition's time limit.
SINFO_FORMAT = "%N|%c|%m|%T|%P|%l"
#: sacct fields for jobs that have left the controller's memory: the name and
#: submit time tell this job from an older one with the same number (ids
#: start again from 1 when a cluster's state is reset).
SACCT_FORMAT = "JobID,State,ExitCode,JobName,Submit"
#: slurmd's own error codes (ESLURMD_*), which Slurm stores in a job's exit
#: status when it could not start the job on the node (e.g. 4021 when the
#: output file cannot be opened). As a wait status they would read as signals.
LAUNCH_ERRORS = range(4000, 5000)
#: The highest standard signal: sacct shows a launch error's low bits as a
#: "signal" above it (4021 as `0:53`), never a signal a task dies of.
MAX_SIGNAL = 31


class JobState(NamedTuple):
    """What Slurm says about one job (or one array element).

    `source` says which command answered, since they encode exit statuses
    differently: squeue gives the raw wait status, which is exact; sacct
    gives `code:signal` with 128 taken off codes of 128 and over, so its
    `9:0` is either exit 9 or exit 137 (a shell reporting a SIGKILLed child).
    `launch_error` is set when Slurm could not start the job on its node.
    """

    job_id: str
    state: str
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    restarts: int = 0
    launch_error: int | None = None
    source: str = "squeue"
    name: str | None = None
    submitted: str | None = None


def parse_squeue(text: str) -> dict[str, JobState]:
    """Job states by job id from `squeue --noheader --array -O SQUEUE_FORMAT`."""
    result: dict[str, JobState] = {}
    for line in text.splitlines():
        fields = line.strip().split("|", 4)
        if len(fields) < 5 or not fields[0]:
            continue
        job_id, state, raw, restarts, reason = fields
        exit_code, signal = decode_wait_status(raw)
        launch = int(raw) if raw.strip().isdigit() and int(raw) in LAUNCH_ERRORS else None
        if launch is not None:
            exit_code, signal = None, None
        result[job_id] = JobState(
            job_id,
            normalise_state(state),
            exit_code,
            signal,
            None if reason in ("", "None", "(null)") else reason,
            int(restarts) if restarts.strip().isdigit() else 0,
            launch,
        )
    return result


def decode_wait_status(raw: str) -> tuple[int | None, int | None]:
    """(exit code, signal) from squeue's raw wait status, e.g. 768 is exit code 3."""
    raw = raw.strip()
    if not raw.isdigit():
        return None, None
    value = int(raw)
    return value >> 8, value & 0x7F


def parse_exit_code(text: str) -> tuple[int | None, int | None]:
    """(exit code, signal) from sacct/scontrol's `3:0` form."""
    code, _, signal = text.strip().partition(":")
    return (
        int(code) if code.isdigit() else None,
        int(signal) if signal.isdigit() else None,
    )


def normalise_state(state: str) -> str:
    """`CANCELLED by 1000` → `CANCELLED`; `NODE_FAIL+` → `NODE_FAIL`."""
    word = state.strip().split(" ", 1)[0]
    return word.rstrip("+*").upper()


def parse_sacct(text: str) -> dict[str, JobState]:
    """Job states by job id from `sacct --noheader --parsable2 --allocations`.

    When sacct lists a job number more than once (ids reset), the last line,
    its most recent job, is kept; the caller compares name and submit time.
    """
    result: dict[str, JobState] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 3 or not fields[0] or "." in fields[0]:
            continue
        exit_code, signal = parse_exit_code(fields[2])
        launch = None
        if signal is not None and signal > MAX_SIGNAL:
            launch, exit_code, signal = signal, None, None
        result[fields[0]] = JobState(
            fields[0],
            normalise_state(fields[1]),
            exit_code,
            signal,
            launch_error=launch,
            source="sacct",
            name=fields[3] if len(fields) > 3 and fields[3] else None,
            submitted=fields[4] if len(fields) > 4 and fields[4] else None,
        )
    return result


class SubmittedJob(NamedTuple):
    """What `sbatch --parsable` printed: the job id, and the cluster when `-M` was used."""

    job_id: str
    cluster: str | None = None


def parse_submitted_job_id(text: str) -> str:
    """The job id from `sbatch --parsable` (`1234` or `1234;cluster`)."""
    return parse_submitted(text).job_id


def parse_submitted(text: str) -> SubmittedJob:
    """Job id and cluster from `sbatch --parsable`: `1234`, or `1234;cluster` with `-M`."""
    for line in reversed(text.strip().splitlines()):
        job_id, _, cluster = line.strip().partition(";")
        if job_id.isdigit():
            return SubmittedJob(job_id, cluster.strip() or None)
    raise ValueError(f"sbatch did not print a job id: {text.strip()!r}")


_KILL_ERROR = re.compile(r"error on job id (\S+?):\s*(.*)$", re.IGNORECASE)


def parse_scancel_errors(text: str) -> dict[str, str]:
    """Jobs `scancel -v` could not cancel, with Slurm's reason.

    scancel exits 0 even for jobs that had already finished, so its verbose
    error lines are the only way to tell which cancellations took effect.
    """
    errors: dict[str, str] = {}
    for line in text.splitlines():
        match = _KILL_ERROR.search(line)
        if match:
            errors[match[1]] = match[2].strip()
    return errors


def parse_config(text: str) -> dict[str, str]:
    """`scontrol show config` as a dict of its `Name = value` lines."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and " " not in name.strip():
            result[name.strip()] = value.strip()
    return result


def parse_time_limit(text: str) -> int | None:
    """Minutes from a Slurm time limit; None if unlimited.

    Slurm's forms: `M`, `M:S`, `H:M:S`, and with days `D-H`, `D-H:M`, `D-H:M:S`.
    """
    text = text.strip().lower()
    if text in ("", "infinite", "unlimited", "n/a", "none"):
        return None
    days, dash, clock = text.rpartition("-")
    try:
        parts = [int(p) for p in clock.split(":")]
        day_count = int(days) if dash else 0
    except ValueError:
        return None
    if dash:
        hours, minutes, seconds = [*parts, 0, 0][:3]
    elif len(parts) == 1:
        hours, minutes, seconds = 0, parts[0], 0
    elif len(parts) == 2:
        hours, (minutes, seconds) = 0, parts
    else:
        hours, minutes, seconds = parts[-3:]
    total_seconds = ((day_count * 24 + hours) * 60 + minutes) * 60 + seconds
    return max(1, -(-total_seconds // 60))


class SinfoSummary(NamedTuple):
    nodes: tuple[NodeInfo, ...]
    queues: tuple[QueueInfo, ...]
    default_queue: str | None


def parse_sinfo(text: str) -> SinfoSummary:
    """Nodes and partitions from `sinfo --Node --noheader --format=SINFO_FORMAT`.

    sinfo prints one line per node and partition; a node's partitions are
    gathered, and a partition's nodes and time limit are read from its lines.
    """
    nodes: dict[str, NodeInfo] = {}
    partition_nodes: dict[str, list[str]] = {}
    limits: dict[str, int | None] = {}
    default: str | None = None
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 6 or not fields[0]:
            continue
        name, cpus, memory, state, partition, limit = fields[:6]
        if partition.endswith("*"):
            partition = partition[:-1]
            default = partition
        node = nodes.get(name)
        if node is None:
            node = NodeInfo(
                name=name,
                cores=_int(cpus),
                memory=_int(memory.rstrip("+")),
                state=state.strip().lower(),
            )
        nodes[name] = _with_queue(node, partition)
        partition_nodes.setdefault(partition, [])
        if name not in partition_nodes[partition]:
            partition_nodes[partition].append(name)
        limits[partition] = parse_time_limit(limit)
    queues = tuple(
        QueueInfo(
            name=partition,
            default=partition == default,
            max_runtime=limits[partition],
            nodes=tuple(members),
        )
        for partition, members in partition_nodes.items()
    )
    return SinfoSummary(tuple(nodes.values()), queues, default)


def _with_queue(node: NodeInfo, queue: str) -> NodeInfo:
    if queue in node.queues:
        return node
    return msgspec.structs.replace(node, queues=(*node.queues, queue))


def _int(text: str) -> int:
    digits = re.match(r"\d+", text.strip())
    return int(digits[0]) if digits else 0
