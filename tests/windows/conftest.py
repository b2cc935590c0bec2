"""The Windows tier: hipercow run by Windows CPython under Wine (tools/windows-python).

Every test here is marked `windows`. The interpreter is prepared once per
lockfile into a cache outside the checkout; preparing is what the first run
on a machine pays for (a download of about 20 MB). Processes a test starts
under Wine are found by the project's path, in Wine's `Z:` form, and killed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import windows_python
from windows.wine import WinCli, WinPython, kill_wine_processes_under


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.windows)


@pytest.fixture(scope="session")
def interpreter() -> windows_python.Interpreter:
    """The prepared interpreter, with a wineserver up for the session."""
    if not windows_python.wine_installed():
        pytest.fail("Wine is not installed: apt-get install wine64 (.ci/run installs it)")
    return windows_python.prepare()


@pytest.fixture
def winpy(interpreter: windows_python.Interpreter) -> WinPython:
    return WinPython(interpreter)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """An empty project directory; whatever ran for it under Wine is killed after."""
    directory = tmp_path / "project"
    directory.mkdir()
    yield directory
    kill_wine_processes_under(directory)


@pytest.fixture
def hipercow(winpy: WinPython, project: Path) -> WinCli:
    """`hipercow` under Wine in an initialised root."""
    cli = WinCli(winpy, project)
    cli("init")
    return cli
