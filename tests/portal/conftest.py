"""Fixtures for tests that talk to the stand-in HPC portal (tools/hpc-portal).

The stand-in is not an installed package, so its directory is put on sys.path
here; tests then ``from hpc_portal import PortalStandin``. The ``portal``
fixture runs one stand-in per test and, on the way out, checks that no job
process it started is still alive.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

STANDIN_DIR = Path(__file__).resolve().parents[2] / "tools" / "hpc-portal"
if str(STANDIN_DIR) not in sys.path:
    sys.path.insert(0, str(STANDIN_DIR))

from hpc_portal import PortalStandin  # noqa: E402
from hpc_portal.testing import running_standin  # noqa: E402


@pytest.fixture
def standin_dir() -> Path:
    """tools/hpc-portal (serve.py lives there)."""
    return STANDIN_DIR


@pytest.fixture
def bob_password() -> str:
    """bob's password: its base64 holds '+' and '/', so a client must url-escape it."""
    return "p~~~>?ss"


@pytest.fixture
def mounts(tmp_path: Path) -> dict[str, Path]:
    """Local directories playing the Linux nodes' mounts /mnt/cluster and /mnt/homes/bob."""
    cluster = tmp_path / "cluster-share"
    home = tmp_path / "bob-home"
    cluster.mkdir()
    home.mkdir()
    return {"/mnt/cluster": cluster, "/mnt/homes/bob": home}


@pytest.fixture
def portal_config(mounts: dict[str, Path], bob_password: str) -> dict[str, Any]:
    """A configuration with fast timings: bob and alice with access, carol without."""
    return {
        "users": {
            "bob": {"password": bob_password},
            "alice": {"password": "alice-pw", "access": True},
            "carol": {"password": "carol-pw", "access": False},
        },
        "session_ttl": 60,
        "first_job_id": 497979,
        "timings": {"queued": 0.05, "running": 0.1, "outcome": "Finished"},
        "mounts": {prefix: str(local) for prefix, local in mounts.items()},
    }


@pytest.fixture
def portal(portal_config: dict[str, Any]) -> Iterator[PortalStandin]:
    """A running stand-in; afterwards, asserts that its job processes are all gone."""
    with running_standin(portal_config) as standin:
        yield standin
