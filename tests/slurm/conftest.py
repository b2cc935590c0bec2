"""The real Slurm cluster for the end-to-end tests of the slurm driver.

The session and the shared access lock live in `slurm.cluster` (the driver
contract suite uses them too): every test here gets the cluster for the
session, and holds the access lock shared (`slurm`) or, if it disturbs the
cluster (kills a node's slurmd, stops the controller), exclusive
(`disruptive`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slurm.cluster import cluster_access, cluster_session, configure
from slurm.helpers import User, cancel_jobs_of

from hipercow_core.root import Root
from hipercow_testing import Cli


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
