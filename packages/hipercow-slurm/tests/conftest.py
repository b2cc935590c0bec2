"""Fixtures for the slurm driver's unit tests: clusters described in data, captured outputs.

No cluster is needed here; outputs in data/ were captured from the development
cluster (tools/slurm-cluster) and are read back by `captured`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hipercow_core.schema import ClusterInfo, NodeInfo, QueueInfo

DATA = Path(__file__).parent / "data"


@pytest.fixture
def captured() -> Callable[[str], str]:
    """Read an output captured from the development cluster."""

    def read(name: str) -> str:
        return (DATA / name).read_text()

    return read


@pytest.fixture
def dev_cluster() -> ClusterInfo:
    """The development cluster: n1..n3 with 2 cores and 4000 MB; `short` holds n1 only."""
    nodes = tuple(
        NodeInfo(name=n, cores=2, memory=4000, queues=("main", "short") if n == "n1" else ("main",))
        for n in ("n1", "n2", "n3")
    )
    return ClusterInfo(
        name="hipercow",
        driver="slurm",
        max_cores=2,
        max_memory=4000,
        queues=(
            QueueInfo(name="main", default=True, nodes=("n1", "n2", "n3")),
            QueueInfo(name="short", max_runtime=10, nodes=("n1",)),
        ),
        default_queue="main",
        nodes=nodes,
        extra={"max_array_size": "1001"},
    )


@pytest.fixture
def mixed_cluster() -> ClusterInfo:
    """Nodes of different sizes, to check that a whole node means the smallest eligible one."""
    nodes = (
        NodeInfo(name="small", cores=8, memory=32000, queues=("all",)),
        NodeInfo(name="big", cores=64, memory=512000, queues=("all", "fat")),
    )
    return ClusterInfo(
        name="mixed",
        driver="slurm",
        max_cores=64,
        max_memory=512000,
        queues=(
            QueueInfo(name="all", default=True, nodes=("small", "big")),
            QueueInfo(name="fat", nodes=("big",)),
        ),
        default_queue="all",
        nodes=nodes,
    )


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory put first on PATH, where tests write stand-ins for Slurm's commands."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}:{Path('/usr/bin')}:{Path('/bin')}")
    yield directory


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Each test starts without answers remembered by an earlier one."""
    from hipercow_slurm import cluster_info, queue

    cluster_info.forget()
    queue.reset()
    yield
    cluster_info.forget()
    queue.reset()
