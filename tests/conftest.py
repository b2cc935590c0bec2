"""Fixtures shared by the end-to-end tests: a fresh project with a root, and the CLI.

Every test that starts processes through hipercow (local daemons, runners,
tasks) gets them killed at teardown: they are found by the project path on
their command line or in their working directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hipercow_core.root import Root
from hipercow_testing import Cli, fresh_project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Root]:
    """A project directory with an initialised root, as the working directory."""
    yield from fresh_project(tmp_path, monkeypatch)


@pytest.fixture
def cli(project: Root) -> Cli:
    return Cli(project.project)


@pytest.fixture(scope="session")
def conda_channel(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real local conda channel (tools/conda-channel), made once per session: its file:// URL."""
    from conda_channel import build_channel

    return build_channel(tmp_path_factory.mktemp("conda-channel"))
