"""What the cluster offers, from sinfo and `scontrol show config`, cached on disk.

Creating a task validates its resources against this, so it must not fail
just because slurmctld is restarting: each successful answer is saved under
the root's per-machine cache directory, and when Slurm cannot be reached the
saved copy is used instead (marked with `cached_at`), after one short try.
Creation then goes on to submission, which reports the unreachable
controller clearly and leaves the task `created`.

A saved copy younger than `MAX_AGE` is used without asking Slurm at all, so
creating tasks costs one scheduler call, the sbatch. Partitions and nodes
change rarely; when they do, a request the saved copy refuses is checked
again against a fresh answer (`fresh=True`) before it is refused, and
`hipercow cluster info` always asks afresh.

Within one process the answer is also kept in memory for a minute, so
creating and then submitting tasks asks Slurm once.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from hipercow_core.errors import DriverError
from hipercow_core.fsutil import atomic_write, read_bytes
from hipercow_core.log import get_logger
from hipercow_core.root import Root
from hipercow_core.schema import ClusterInfo
from hipercow_slurm import commands
from hipercow_slurm.commands import Budget, SlurmError
from hipercow_slurm.parsing import SINFO_FORMAT, parse_config, parse_sinfo

log = get_logger(__name__)

CACHE_FILE = "slurm-cluster-info.json"
#: Seconds an answer is reused within one process.
MEMORY_SECONDS = 60.0
#: Seconds a saved answer is used without asking Slurm.
MAX_AGE = 600.0
#: Seconds for the one attempt made when a saved copy exists to fall back on.
QUICK_TIMEOUT = 5.0
#: Slurm's default MaxArraySize, used when the configuration does not say.
DEFAULT_MAX_ARRAY_SIZE = 1001
DEFAULT_MIN_JOB_AGE = 300
DRIVER = "slurm"

_memory: dict[Path, tuple[float, ClusterInfo]] = {}
_lock = threading.Lock()


def cache_path(root: Root) -> Path:
    return root.cache_dir() / CACHE_FILE


def cluster_info(
    root: Root, *, default_partition: str | None, budget: Budget, fresh: bool = False
) -> ClusterInfo:
    """The cluster's queues, nodes and limits: saved if recent, else asked of Slurm.

    With `fresh`, Slurm is asked whatever is saved; when it cannot be
    reached, the saved copy is used either way.
    """
    path = cache_path(root)
    with _lock:
        remembered = _memory.get(path)
        if (
            not fresh
            and remembered is not None
            and time.monotonic() - remembered[0] < MEMORY_SECONDS
        ):
            return _with_default(remembered[1], default_partition)
        saved = _load(path)
        if not fresh and saved is not None and _age(saved) < MAX_AGE:
            _memory[path] = (time.monotonic(), saved)
            return _with_default(saved, default_partition)
        try:
            info = fetch(budget, quick=saved is not None)
        except (SlurmError, DriverError) as e:
            if saved is None:
                if isinstance(e, DriverError):
                    raise
                raise DriverError(
                    f"cannot read the cluster's configuration: {e}",
                    "Check that Slurm works on this machine ('sinfo' should answer).",
                ) from None
            log.warning("slurm unreachable, using saved cluster info", error=str(e))
            info = saved
        else:
            _save(path, info)
        _memory[path] = (time.monotonic(), info)
    return _with_default(info, default_partition)


def forget() -> None:
    """Drop what this process remembers (tests, or after the cluster changed)."""
    with _lock:
        _memory.clear()


def fetch(budget: Budget, *, quick: bool = False) -> ClusterInfo:
    """Ask Slurm now: one sinfo for nodes and partitions, one scontrol for limits.

    With `quick`, a single short attempt is made, since the caller has a
    saved copy to fall back on and should not spend the budget that the
    submission after it needs.
    """
    if quick:
        sinfo = commands.run("sinfo", _sinfo_args(), timeout=QUICK_TIMEOUT).stdout
        config_text = commands.run("scontrol", ["show", "config"], timeout=QUICK_TIMEOUT).stdout
    else:
        sinfo = commands.run_retrying("sinfo", _sinfo_args(), budget=budget).stdout
        config_text = commands.run_retrying("scontrol", ["show", "config"], budget=budget).stdout
    return build(sinfo, config_text)


def _sinfo_args() -> list[str]:
    return ["--Node", "--noheader", f"--format={SINFO_FORMAT}"]


def build(sinfo_text: str, config_text: str) -> ClusterInfo:
    """A ClusterInfo from captured sinfo and `scontrol show config` outputs."""
    summary = parse_sinfo(sinfo_text)
    config = parse_config(config_text)
    if not summary.nodes:
        raise DriverError(
            "Slurm reports no nodes (sinfo printed nothing usable)",
            "Check 'sinfo' on this machine; the cluster may have no partitions you can use.",
        )
    max_array = config.get("MaxArraySize", "")
    extra = {
        "max_array_size": max_array if max_array.isdigit() else str(DEFAULT_MAX_ARRAY_SIZE),
    }
    if config.get("SLURM_VERSION"):
        extra["slurm_version"] = config["SLURM_VERSION"]
    for key, name in (("MinJobAge", "min_job_age"), ("MaxJobCount", "max_job_count")):
        digits = re.match(r"\d+", config.get(key, ""))
        if digits:
            extra[name] = digits[0]
    return ClusterInfo(
        name=config.get("ClusterName") or "slurm",
        driver=DRIVER,
        max_cores=max(n.cores for n in summary.nodes),
        max_memory=max(n.memory for n in summary.nodes),
        queues=summary.queues,
        default_queue=summary.default_queue,
        nodes=summary.nodes,
        extra=extra,
    )


def min_job_age(info: ClusterInfo) -> int:
    """Seconds the controller keeps a finished job (MinJobAge; Slurm's default 300)."""
    value = info.extra.get("min_job_age", "")
    return int(value) if value.isdigit() else DEFAULT_MIN_JOB_AGE


def max_job_count(info: ClusterInfo) -> int | None:
    """How many jobs the whole cluster may hold (MaxJobCount), if the configuration says."""
    value = info.extra.get("max_job_count", "")
    return int(value) if value.isdigit() else None


def max_array_size(info: ClusterInfo) -> int:
    value = info.extra.get("max_array_size", "")
    return int(value) if value.isdigit() else DEFAULT_MAX_ARRAY_SIZE


def _with_default(info: ClusterInfo, partition: str | None) -> ClusterInfo:
    """The configured default partition, when there is one, wins over Slurm's."""
    if not partition or partition == info.default_queue:
        return info
    queues = tuple(msgspec.structs.replace(q, default=q.name == partition) for q in info.queues)
    return msgspec.structs.replace(info, default_queue=partition, queues=queues)


def _save(path: Path, info: ClusterInfo) -> None:
    stamped = msgspec.structs.replace(
        info, extra={**info.extra, "cached_at": datetime.now(UTC).isoformat(timespec="seconds")}
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, msgspec.json.encode(stamped))
    except OSError as e:
        log.warning("could not save cluster info", path=str(path), error=str(e))


def _age(info: ClusterInfo) -> float:
    """Seconds since a saved answer was saved; infinite when it does not say."""
    try:
        saved_at = datetime.fromisoformat(info.extra.get("cached_at", ""))
    except ValueError:
        return float("inf")
    age = (datetime.now(UTC) - saved_at).total_seconds()
    return age if age >= 0 else float("inf")


def _load(path: Path) -> ClusterInfo | None:
    raw = read_bytes(path)
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=ClusterInfo)
    except msgspec.DecodeError:
        return None
