"""Helpers for the end-to-end tests: running the CLI as a user would, and cleaning up.

Importable from any test as `hipercow_testing` (pytest puts tests/ on the path).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

if TYPE_CHECKING:
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
            check=False,
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


def fresh_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Root]:
    """A project with an initialised root as the working directory; its processes die after.

    The body of every suite's `project` fixture.
    """
    from hipercow_core.root import Root

    directory = tmp_path / "project"
    directory.mkdir()
    root, _ = Root.init(directory)
    monkeypatch.chdir(directory)
    monkeypatch.delenv("HIPERCOW_ROOT", raising=False)
    yield root
    kill_processes_under(directory)


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


def daemon_pid(root: Root) -> int | None:
    """The pid of this project's local daemon, never another test's (they run side by side)."""
    marker = "hipercow_core.drivers.local_daemon"
    for process in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmdline = process.info["cmdline"] or []
            if marker in cmdline and str(root.project) in cmdline:
                return int(process.info["pid"])
    return None


def wait_until(predicate: Callable[[], bool], timeout: float = 30, interval: float = 0.1) -> None:
    """Poll `predicate` until it holds; fail the test if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


# --- conda environments (tests/test_conda_environments.py, the Slurm and portal suites)

REFERENCE_FASTA = ">chr1 first\nAAAACCCCGG\nGGTTTT\n>chr2\nacgtacgt\n"
READS_FASTA = ">r1\nccgg\n>r2\nTTTTA\n"


def write_fasta(directory: Path) -> None:
    """`ref.fa` and `reads.fa` for the stand-in aligner: r1 is at chr1:7, r2 nowhere."""
    (directory / "ref.fa").write_text(REFERENCE_FASTA)
    (directory / "reads.fa").write_text(READS_FASTA)


def conda_history(cli: Cli, name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(cli("environment", "history", name, "--json").stdout)
    return entries


def conda_packages(entry: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """An attempt's conda packages: name -> (version, build)."""
    return {
        p["name"]: (p["version"], p["build"]) for p in entry["result"]["packages"] if p.get("build")
    }
