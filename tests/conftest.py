"""Fixtures shared by the end-to-end tests: a fresh project with a root, and the CLI.

Every test that starts processes through hipercow (local daemons, runners,
tasks) gets them killed at teardown: they are found by the project path on
their command line or in their working directory.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from hipercow_core.root import Root

BIN = Path(sys.executable).parent


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Cli:
    """Runs `hipercow` as a user would: a separate process, in the project directory."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        self.env.pop("HIPERCOW_TRACEBACK", None)

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120, cwd: Path | None = None
    ) -> Result:
        done = subprocess.run(
            [str(BIN / "hipercow"), *args],
            cwd=cwd or self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        if check and result.code != 0:
            raise AssertionError(
                f"hipercow {' '.join(args)} exited {result.code}\n{result.stdout}\n{result.stderr}"
            )
        return result


def kill_processes_under(path: Path) -> None:
    """Kill every process started for this project, whatever its parent."""
    marker = str(path)
    victims = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if process.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(process.info["cmdline"] or [])
            cwd = process.info["cwd"] or ""
            if marker in cmdline or cwd.startswith(marker):
                victims.append(process)
    for process in victims:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(victims, timeout=5)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Root]:
    """A project directory with an initialised root, as the working directory."""
    directory = tmp_path / "project"
    directory.mkdir()
    root, _ = Root.init(directory)
    monkeypatch.chdir(directory)
    monkeypatch.delenv("HIPERCOW_ROOT", raising=False)
    yield root
    kill_processes_under(directory)


@pytest.fixture
def cli(project: Root) -> Cli:
    return Cli(project.project)
