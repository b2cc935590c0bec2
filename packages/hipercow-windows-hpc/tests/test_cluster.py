"""The cluster's description from the portal's API, its node load, and its disk cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hipercow_core.root import Root
from hipercow_windows_hpc.client import PortalClient
from hipercow_windows_hpc.cluster import (
    build_cluster_info,
    cache_path,
    python_module,
    static_cluster_info,
    with_load,
)
from hipercow_windows_hpc.credentials import Credentials
from hipercow_windows_hpc.errors import PortalUnavailableError
from hipercow_windows_hpc.options import WindowsHpcOptions
from hipercow_windows_hpc.wire import NodeSlot

WINDOWS = {
    "name": "wpia-hn",
    "node_os": "windows",
    "max_cores": 32,
    "max_ram": 512,
    "queues": ["AllNodes", "Testing", "BuildQueue"],
    "default_queue": "AllNodes",
    "build_queue": "BuildQueue",
    "testing_queue": "Testing",
    "redis_url": "wpia-hn.hpc.dide.ic.ac.uk",
    "nodes": ["wpia-001", "wpia-002"],
}
SOFTWARE = {
    "windows": [{"name": "python", "version": "3.11.9"}],
    "linux": [
        {"name": "python", "version": "3.11.9", "module": "Python/3.11.9-GCCcore-13.3.0"},
        {"name": "Python", "version": "3.11.10", "module": "Python/3.11.10"},
        {"name": "python", "version": "3.12.4", "module": "Python/3.12.4-GCCcore-13.3.0"},
    ],
}


class FakeClient(PortalClient):
    """Answers the two unauthenticated calls from data, counting them, or fails."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__("http://portal.invalid/hpc/", "wpia-hn", lambda: Credentials("x", "y"))
        self.fail = fail
        self.fetches = 0

    def cluster_info(self, node_os: str) -> dict[str, Any]:
        self.fetches += 1
        if self.fail:
            raise PortalUnavailableError("down", "later")
        return dict(WINDOWS)

    def software(self) -> dict[str, Any]:
        return SOFTWARE


def test_description_from_the_api() -> None:
    info = build_cluster_info(WINDOWS, SOFTWARE, "windows", "https://portal/hpc/")
    assert (info.name, info.driver, info.max_cores, info.max_memory) == (
        "wpia-hn",
        "windows-hpc",
        32,
        512_000,
    )
    assert [q.name for q in info.queues] == ["AllNodes", "Testing", "BuildQueue"]
    assert info.default_queue == "AllNodes" and info.queues[0].default
    assert [n.name for n in info.nodes] == ["wpia-001", "wpia-002"]
    assert info.extra["build_queue"] == "BuildQueue"
    assert {s.platform for s in info.software} == {"windows", "linux"}
    assert python_module(info, "linux", "3.11") == "Python/3.11.10"
    assert python_module(info, "linux", "3.12.4") == "Python/3.12.4-GCCcore-13.3.0"
    assert python_module(info, "linux", "3.1") is None


def test_node_load_matches_names_without_regard_to_case() -> None:
    info = build_cluster_info(
        {**WINDOWS, "nodes": ["wpia-001", "wpia-002", "wpia-003", "wpia-004"]},
        SOFTWARE,
        "windows",
        "u",
    )
    slots = [
        NodeSlot("WPIA-001", 0, "busy", "1"),
        NodeSlot("WPIA-001", 1, "idle", None),
        NodeSlot("WPIA-001", 2, "offline", None),
        NodeSlot("WPIA-002", 0, "busy", "2"),
        NodeSlot("WPIA-003", 0, "offline", None),
    ]
    states = [n.state for n in with_load(info, slots).nodes]
    assert states == ["1/2 cores busy", "busy", "offline", "unknown"]
    assert {n.state for n in with_load(info, []).nodes} == {"unknown"}


def test_cached_on_disk_until_stale(tmp_path: Path) -> None:
    root, _ = Root.init(tmp_path)
    options = WindowsHpcOptions(portal_url="http://portal.invalid/hpc/")
    client = FakeClient()
    first = static_cluster_info(root, options, client)
    assert static_cluster_info(root, options, client) == first
    assert client.fetches == 1
    assert cache_path(root, options).is_relative_to(root.cache_dir())
    static_cluster_info(root, options, client, refresh=True)
    assert client.fetches == 2


def test_a_stale_cache_serves_when_the_portal_is_down(tmp_path: Path) -> None:
    root, _ = Root.init(tmp_path)
    options = WindowsHpcOptions(portal_url="http://portal.invalid/hpc/", cluster_info_ttl=0)
    info = static_cluster_info(root, options, FakeClient())
    assert static_cluster_info(root, options, FakeClient(fail=True)) == info
    cache_path(root, options).write_bytes(b"not json")
    with pytest.raises(PortalUnavailableError):
        static_cluster_info(root, options, FakeClient(fail=True))
