"""The real Slurm cluster for the end-to-end tests of the slurm driver.

The session and the shared access lock live in `slurm.cluster` (the driver
contract suite uses them too): every test here gets the cluster for the
session, and holds the access lock shared (`slurm`) or, if it disturbs the
cluster (kills a node's slurmd, stops the controller), exclusive
(`disruptive`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm.cluster import cluster_access, cluster_session, configure
from slurm.helpers import Reconfigure, User, cancel_jobs_of, cluster_tool

from hipercow_core.root import Root
from hipercow_slurm import cluster_info, queue
from hipercow_testing import Cli

# A test waits for its turn on the cluster in its fixtures: alone on it, after every
# shared holder (test_slurm_many's 2,500 tasks take minutes); shared, after the tests
# queued to be alone. That wait is not the test's own time, so the timeout counts only
# the test's body (pytest-timeout's func_only), with the limit the test asked for.
HERE = Path(__file__).parent
CONTRACT = HERE.parent / "contract"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not uses_the_cluster(item):
            continue
        marker = item.get_closest_marker("timeout")
        seconds = marker.args[0] if marker and marker.args else float(config.getini("timeout"))
        item.add_marker(pytest.mark.timeout(seconds, func_only=True), append=False)


def uses_the_cluster(item: pytest.Item) -> bool:
    path = Path(str(item.path))
    if path.is_relative_to(HERE):
        return True
    return path.is_relative_to(CONTRACT) and "slurm" in item.nodeid


@pytest.fixture(scope="session", autouse=True)
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The cluster, up for the session; stopped afterwards only if this run started it."""
    with cluster_session(tmp_path_factory):
        yield


@pytest.fixture
def slurm(project: Root, cli: Cli) -> Iterator[User]:
    """A project configured for the slurm driver, sharing the cluster with other tests."""
    with cluster_access(exclusive=False):
        configure(cli)
        yield User(project, cli)
        cancel_jobs_of(project)


@pytest.fixture
def disruptive(project: Root, cli: Cli) -> Iterator[User]:
    """As `slurm`, but alone on the cluster: for tests that kill a node or the controller."""
    with cluster_access(exclusive=True):
        configure(cli)
        yield User(project, cli)
        cancel_jobs_of(project)


@pytest.fixture
def reconfigure(disruptive: User) -> Iterator[Reconfigure]:
    """Change the cluster's configuration for one test, alone on it; restored afterwards.

    `reconfigure("MaxJobCount=50", accounting=True)` restarts the daemons with those
    settings (tools/slurm-cluster `configure`); the shipped configuration is put back
    after the test, before the lock is let go, so the ordinary tests see it unchanged.
    """
    changed = False

    def apply(*settings: str, accounting: bool = False) -> None:
        nonlocal changed
        changed = True
        mode = "--accounting" if accounting else "--no-accounting"
        cluster_tool("configure", "--reset", mode, *settings)
        forget_cluster(disruptive.root)

    yield apply
    if changed:
        cancel_jobs_of(disruptive.root)
        cluster_tool("configure", "--reset")
        forget_cluster(disruptive.root)


def forget_cluster(root: Root) -> None:
    """This test process outlives a cluster change: drop what the driver learnt of the old one.

    (Whether accounting exists, the limits in `scontrol show config`.) The
    project's saved facts go too: `driver configure` saved them for the old
    cluster moments ago, and they would stay fresh for ten minutes.
    """
    queue.reset()
    cluster_info.forget()
    cluster_info.cache_path(root).unlink(missing_ok=True)
