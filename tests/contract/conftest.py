"""The driver contract suite's fixtures: one `driver` fixture, parametrized over every driver.

The drivers and their adapters are listed in `contract.adapters.DRIVERS`;
the stand-in portal's fixtures are imported here from `windows_hpc.fixtures`
(the windows-hpc adapter asks for them by name), and the Slurm cluster is
brought up for the session only if a slurm test runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contract.adapters import DRIVERS, DriverAdapter, User
from slurm import cluster
from windows_hpc.fixtures import (
    configure,
    keyring_env,
    logged_in,
    portal,
    portal_config,
    portal_extra,
    share,
)

from hipercow_core.root import Root

__all__ = [
    "configure",
    "keyring_env",
    "logged_in",
    "portal",
    "portal_config",
    "portal_extra",
    "share",
]


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The Slurm cluster for the session, asked for only by the slurm adapter."""
    with cluster.cluster_session(tmp_path_factory):
        yield


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest, project: Root) -> Iterator[User]:
    """A project configured for each driver in turn, as its user sees it."""
    adapter: DriverAdapter = request.param
    with adapter.use(request, project) as cli:
        yield User(adapter, project, cli)
