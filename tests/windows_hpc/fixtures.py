"""Fixtures for driving the windows-hpc driver against the stand-in portal over HTTP.

Imported by tests/windows_hpc/conftest.py and by the driver contract suite
(tests/contract), so both drive the same stand-in the same way; importable as
`windows_hpc.fixtures` (tests/ is on the path).

The stand-in (tools/hpc-portal) runs in this process on a free loopback port,
one per test, and is closed at teardown, when no job process it started may
be left alive. The project lives in `tmp_path/project`, and `tmp_path` plays
the cluster share: `\\\\wpia-hn\\hipercow` locally, `/mnt/cluster` on the
Linux nodes (the stand-in rewrites that prefix to `tmp_path`). Credentials go
to a file keyring outside the project, shared with CLI subprocesses.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest

from hipercow_core.drivers.registry import configure_driver
from hipercow_core.root import Root
from hipercow_windows_hpc.credentials import Credentials, store_credentials

TESTS_DIR = Path(__file__).resolve().parents[1]
STANDIN_DIR = TESTS_DIR.parent / "tools" / "hpc-portal"
if str(STANDIN_DIR) not in sys.path:
    sys.path.insert(0, str(STANDIN_DIR))

from hpc_portal import PortalStandin  # noqa: E402
from hpc_portal.testing import running_standin  # noqa: E402
from windows_hpc.helpers import (  # noqa: E402
    CAROL_PASSWORD,
    PASSWORD,
    USER,
    Configure,
    PortalCli,
)
from windows_hpc.keyring_backend import ENV, FileKeyring  # noqa: E402


@pytest.fixture
def share(project: Root) -> Path:
    """The local directory of the cluster share; the project is inside it."""
    return project.project.parent


@pytest.fixture
def portal_extra() -> dict[str, Any]:
    """Configuration a test adds to the stand-in's (modes, say): parametrize it to vary."""
    return {}


@pytest.fixture
def portal_config(share: Path, portal_extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "users": {
            USER: {"password": PASSWORD},
            "carol": {"password": CAROL_PASSWORD, "access": False},
        },
        "session_ttl": 600,
        "timings": {"queued": 0.05, "running": 0.2, "outcome": "Finished"},
        "mounts": {"/mnt/cluster": str(share)},
        "windows_shares": {"\\\\wpia-hn\\hipercow": str(share)},
        **portal_extra,
    }


@pytest.fixture
def portal(portal_config: dict[str, Any]) -> Iterator[PortalStandin]:
    """A running stand-in; afterwards, no job process it started may be alive."""
    with running_standin(portal_config) as standin:
        yield standin


@pytest.fixture
def keyring_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """A file keyring outside the project, for this process and CLI subprocesses."""
    store = tmp_path_factory.mktemp("keyring") / "secrets.json"
    paths = [str(TESTS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        "PYTHON_KEYRING_BACKEND": "windows_hpc.keyring_backend.FileKeyring",
        ENV: str(store),
        "PYTHONPATH": os.pathsep.join(paths),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())  # type: ignore[no-untyped-call]
    yield env
    keyring.set_keyring(previous)
    store.unlink(missing_ok=True)


@pytest.fixture
def logged_in(keyring_env: dict[str, str]) -> Credentials:
    """bob's credentials stored in the test keyring."""
    credentials = Credentials(USER, PASSWORD)
    store_credentials(credentials)
    return credentials


@pytest.fixture
def configure(project: Root, portal: PortalStandin, share: Path) -> Configure:
    """Configure the driver for the stand-in; keyword arguments override the defaults."""

    def configure(**options: str) -> dict[str, Any]:
        defaults = {
            "portal_url": portal.url,
            "platform": "linux",
            "shares": f"{share}=//wpia-hn/hipercow:V",
            "detect_shares": "false",
            "linux_runner": f"{sys.executable} -m hipercow_core.run",
            "python_version": "3.11",
            "timeout": "10",
            "retries": "2",
            "retry_wait": "0.01",
            "max_poll_interval": "0.2",
        }
        return dict(configure_driver(project, "windows-hpc", {**defaults, **options}).options)

    return configure


@pytest.fixture
def hpc(project: Root, keyring_env: dict[str, str]) -> PortalCli:
    return PortalCli(project.project, keyring_env)
