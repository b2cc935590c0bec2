"""Fixtures for the CLI's own tests: a fresh project, and `hipercow` run in-process.

Tasks run for real through the local driver; whatever a test starts for its
project is killed at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hipercow_cli_testing import Run, in_process
from hipercow_core.root import Root
from hipercow_testing import fresh_project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Root]:
    """A project with an initialised root as the working directory; its processes die after."""
    yield from fresh_project(tmp_path, monkeypatch)


@pytest.fixture
def terminal(project: Root) -> Run:
    """`hipercow ...` at a terminal, in the project."""
    return in_process(terminal=True)


@pytest.fixture
def piped(project: Root) -> Run:
    """`hipercow ...` with stdout and stderr piped, in the project."""
    return in_process(terminal=False)
