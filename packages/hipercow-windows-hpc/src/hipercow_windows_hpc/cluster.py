"""What the cluster offers, from the portal's API, cached on disk between commands.

Every `task create` validates resources against the cluster's description, so
it is cached in the root's per-machine cache directory and refetched only
when older than `cluster_info_ttl`. It is only a cache: a corrupt or missing
file is fetched again, and when the portal cannot be reached a stale copy is
used rather than failing. Node load changes by the minute and needs a login,
so it is never cached: the driver adds it live, when the portal gives it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from hipercow_core.fsutil import atomic_write, read_bytes
from hipercow_core.log import get_logger
from hipercow_core.root import Root
from hipercow_core.schema import ClusterInfo, NodeInfo, QueueInfo, SoftwareInfo
from hipercow_windows_hpc import DRIVER_NAME
from hipercow_windows_hpc.client import PortalClient
from hipercow_windows_hpc.errors import PortalUnavailableError
from hipercow_windows_hpc.options import WindowsHpcOptions
from hipercow_windows_hpc.wire import NodeSlot

log = get_logger(__name__)


class CachedCluster(msgspec.Struct, frozen=True):
    """A cluster description and where and when it was fetched."""

    fetched: datetime
    portal_url: str
    head_node: str
    platform: str
    info: ClusterInfo


def cache_path(root: Root, options: WindowsHpcOptions) -> Path:
    return root.cache_dir() / DRIVER_NAME / f"cluster-{options.head_node}-{options.platform}.json"


def _software(entries: Iterable[Mapping[str, Any]], platform: str) -> list[SoftwareInfo]:
    found = []
    for entry in entries:
        name, version = entry.get("name"), entry.get("version")
        if isinstance(name, str) and isinstance(version, str):
            module = entry.get("module")
            found.append(
                SoftwareInfo(name, version, platform, module if isinstance(module, str) else None)
            )
    return found


def build_cluster_info(
    info: Mapping[str, Any],
    software: Mapping[str, Iterable[Mapping[str, Any]]],
    platform: str,
    portal_url: str,
) -> ClusterInfo:
    """A `ClusterInfo` from the cluster_info and cluster_software answers."""
    max_cores = int(info["max_cores"])
    max_memory = int(info["max_ram"]) * 1000
    queues = [str(q) for q in info["queues"]]
    default = info.get("default_queue")
    default_queue = str(default) if default in queues else (queues[0] if queues else None)
    nodes = tuple(
        NodeInfo(str(n), max_cores, max_memory, state="unknown", queues=tuple(queues))
        for n in info["nodes"]
    )
    entries = [
        item for os_name in ("windows", "linux") for item in _software(software[os_name], os_name)
    ]
    extra = {
        key: str(info[key])
        for key in ("node_os", "build_queue", "testing_queue", "redis_url")
        if info.get(key) is not None
    }
    extra["portal"] = portal_url
    return ClusterInfo(
        name=str(info.get("name") or ""),
        driver=DRIVER_NAME,
        max_cores=max_cores,
        max_memory=max_memory,
        queues=tuple(QueueInfo(q, default=q == default_queue) for q in queues),
        default_queue=default_queue,
        nodes=nodes,
        software=tuple(entries),
        extra=extra,
    )


def with_load(info: ClusterInfo, slots: Iterable[NodeSlot]) -> ClusterInfo:
    """The description with each node's state from the portal's node table.

    The table prints names in upper case and the API in lower case, so they
    are matched without regard to case. A node is `offline` when none of its
    cores is available, else `idle`, `busy`, or how many of its available
    cores are busy; a node the table does not show is `unknown`.
    """
    available: Counter[str] = Counter()
    busy: Counter[str] = Counter()
    shown: set[str] = set()
    for slot in slots:
        name = slot.node.lower()
        shown.add(name)
        available[name] += slot.state != "offline"
        busy[name] += slot.busy
    nodes = []
    for node in info.nodes:
        name = node.name.lower()
        if name not in shown:
            state = "unknown"
        elif available[name] == 0:
            state = "offline"
        elif busy[name] == 0:
            state = "idle"
        elif busy[name] == available[name]:
            state = "busy"
        else:
            state = f"{busy[name]}/{available[name]} cores busy"
        nodes.append(msgspec.structs.replace(node, state=state))
    return msgspec.structs.replace(info, nodes=tuple(nodes))


def _read_cache(path: Path) -> CachedCluster | None:
    raw = read_bytes(path)
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=CachedCluster)
    except msgspec.DecodeError:
        log.debug("ignoring an unreadable cluster cache", path=str(path))
        return None


def static_cluster_info(
    root: Root, options: WindowsHpcOptions, client: PortalClient, *, refresh: bool = False
) -> ClusterInfo:
    """The cluster description (no node load), from the cache while it is fresh."""
    path = cache_path(root, options)
    cached = _read_cache(path)
    now = datetime.now(UTC)
    usable = cached is not None and (cached.portal_url, cached.head_node) == (
        options.portal_url,
        options.head_node,
    )
    if (
        usable
        and not refresh
        and cached is not None
        and (now - cached.fetched).total_seconds() < options.cluster_info_ttl
    ):
        return cached.info
    try:
        info = build_cluster_info(
            client.cluster_info(options.platform), client.software(), options.platform, client.url
        )
    except PortalUnavailableError as e:
        if usable and cached is not None:
            log.warning("using a stale cluster description", reason=e.message)
            return cached.info
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise PortalUnavailableError(
            f"the portal's cluster description is incomplete: {type(e).__name__}: {e}",
            "Try again later; if it persists, the portal has changed: please report it.",
        ) from None
    record = CachedCluster(now, options.portal_url, options.head_node, options.platform, info)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, msgspec.json.encode(record))
    return info


def python_module(info: ClusterInfo, platform: str, version: str) -> str | None:
    """The Linux environment module of the newest matching Python (3.11 matches 3.11.9)."""
    pattern = re.compile(re.escape(version) + r"(\.|$)")
    matches = [
        s
        for s in info.software
        if s.platform == platform and s.name.lower() == "python" and pattern.match(s.version)
    ]
    if not matches:
        return None
    newest = max(matches, key=lambda s: tuple(int(p) for p in re.findall(r"\d+", s.version)))
    return newest.module


def python_versions(info: ClusterInfo, platform: str) -> list[str]:
    return [
        s.version for s in info.software if s.platform == platform and s.name.lower() == "python"
    ]
