"""Running Windows CPython and the hipercow CLI under Wine, as a Windows user would."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil
import windows_python

LAUNCHER = Path(windows_python.__file__).with_name("hipercow_main.py")
REDIRECTED = Path(windows_python.__file__).with_name("redirected.py")

#: Variables of the test's own shell that would change what the CLI does.
_UNSET = ("NO_COLOR", "FORCE_COLOR", "HIPERCOW_TRACEBACK", "PYTHONUTF8", "PYTHONIOENCODING")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def decode(raw: bytes) -> str:
    """What a Windows program wrote, with Windows line ends made plain."""
    return raw.decode("utf-8", errors="replace").replace("\r\n", "\n")


class WinPython:
    """`python.exe` of the Windows interpreter, run under Wine with pipes for its streams."""

    def __init__(self, interpreter: windows_python.Interpreter) -> None:
        self.interpreter = interpreter
        env = windows_python.wine_environment()
        for name in _UNSET:
            env.pop(name, None)
        # `python` on the Windows PATH is this interpreter, as after a python.org install.
        env["WINEPATH"] = windows_python.windows_path(interpreter.folder)
        self.env = env

    @property
    def exe(self) -> str:
        """python.exe as Windows code names it."""
        return windows_python.windows_path(self.interpreter.python)

    def run(
        self,
        *args: str,
        cwd: Path,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        piped: bool = True,
    ) -> Result:
        """Run with its output in pipes, or (`piped=False`) in files Windows redirects it to.

        A process that leaves others running (the local daemon, a task) must
        write to files: Wine keeps a pipe open while any process it started lives.
        """
        if piped:
            done = subprocess.run(
                self.interpreter.command(*args),
                cwd=cwd,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
            return Result(done.returncode, decode(done.stdout), decode(done.stderr))
        with tempfile.TemporaryDirectory() as scratch:
            out, err = Path(scratch) / "out", Path(scratch) / "err"
            done = subprocess.run(
                self.interpreter.command(str(REDIRECTED), str(out), str(err), *args),
                cwd=cwd,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
            return Result(done.returncode, decode(out.read_bytes()), decode(err.read_bytes()))


class WinCli:
    """`hipercow` on Windows, in a project directory."""

    def __init__(self, python: WinPython, cwd: Path) -> None:
        self.python = python
        self.cwd = cwd

    def __call__(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        piped: bool = False,
    ) -> Result:
        """`hipercow ARGS...`, its output redirected to files by Windows (or in pipes)."""
        result = self.python.run(
            str(LAUNCHER), *args, cwd=cwd or self.cwd, env=env, timeout=timeout, piped=piped
        )
        if check and result.code != 0:
            raise AssertionError(
                f"hipercow {' '.join(args)} exited {result.code}\n{result.stdout}\n{result.stderr}"
            )
        return result


def kill_wine_processes_under(path: Path) -> None:
    """Kill the Windows processes started for this project (their command lines name it)."""
    markers = (str(path), windows_python.windows_path(path))
    victims = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if process.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(process.info["cmdline"] or [])
            if any(marker.lower() in cmdline.lower() for marker in markers):
                victims.append(process)
    for process in victims:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(victims, timeout=5)
