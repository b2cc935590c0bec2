r"""The windows-hpc driver's `run.bat`, run by cmd.exe under Wine as a Windows node would.

The script is rendered on Linux exactly as the driver writes it, for a
project whose share is mapped to `Z:` (Wine's drive for `/`), so no NET USE
is needed. The runner is a `.bat` wrapper around python.exe that records the
arguments it was given and exits with a chosen code: that checks `CALL` (a
wrapper that is not called never returns) and the runner's `--root`, as a
Windows program parses it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import windows_python
from windows.wine import WinPython, decode

from hipercow_windows_hpc.batch import ScriptSettings, windows_script
from hipercow_windows_hpc.paths import Unc
from hipercow_windows_hpc.shares import Location, Share

TASK = "0123456789abcdef0123456789abcdef"

RECORD = """\
import json, os, sys
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump([os.getcwd(), *sys.argv[2:]], out)
sys.exit(int(os.environ.get("RECORD_EXIT", "0")))
"""


def run_bat(winpy: WinPython, scratch: Path, project: Path, code: int = 0) -> tuple[str, list[str]]:
    """Render run.bat for `project` (a Linux path), run it; its output and the runner's argv.

    The runner, a `.bat` wrapper around python.exe, exits with `code`.
    """
    record = scratch / "record.py"
    record.write_text(RECORD, encoding="utf-8")
    argv_file = scratch / "argv.json"
    wrapper = scratch / "runner.bat"
    runner = f'"{winpy.exe}" "{windows_python.windows_path(record)}" '
    runner += f'"{windows_python.windows_path(argv_file)}"'
    wrapper.write_bytes(f"@{runner} %*\r\n".encode())
    share = Share("/", Unc.parse("//server/root"), "Z:")
    parts = project.resolve().relative_to("/").parts
    settings = ScriptSettings(
        project=Location(share, parts),
        shares=(),
        runner=f'"{windows_python.windows_path(wrapper)}"',
        python_version="3.12",
    )
    script = scratch / "run.bat"
    script.write_bytes(windows_script(settings, TASK, ()).replace("\n", "\r\n").encode("utf-8"))
    done = subprocess.run(
        ["wine", "cmd", "/c", windows_python.windows_path(script)],
        env={**winpy.env, "RECORD_EXIT": str(code)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    output = decode(done.stdout) + decode(done.stderr)
    argv = json.loads(argv_file.read_text(encoding="utf-8")) if argv_file.exists() else []
    assert done.returncode == (0 if code == 0 else 1), output
    return output, argv


def test_a_project_at_a_drive_root_reaches_the_runner_whole(
    winpy: WinPython, tmp_path: Path
) -> None:
    output, argv = run_bat(winpy, tmp_path, Path("/"), 0)
    assert argv == ["Z:\\", "--root", ".", TASK], output
    assert "the runner exited with code 0" in output


@pytest.mark.parametrize("name", ["R&D (copy)", "a)b", "100% sure & wow!", "a^b %PATH%"])
def test_special_characters_in_the_project_path(
    winpy: WinPython, tmp_path: Path, name: str
) -> None:
    project = tmp_path / name
    project.mkdir()
    output, argv = run_bat(winpy, tmp_path, project, 0)
    assert argv == [windows_python.windows_path(project), "--root", ".", TASK], output


def test_a_missing_project_directory_is_reported_with_its_path(
    winpy: WinPython, tmp_path: Path
) -> None:
    missing = tmp_path / "gone (R&D)"
    output, argv = run_bat(winpy, tmp_path, missing, 3)
    assert argv == []
    assert f'cannot change to the project directory "{windows_python.windows_path(missing)}"' in (
        output
    )
    assert "did not succeed" in output


def test_a_bat_runner_returns_to_the_script(winpy: WinPython, tmp_path: Path) -> None:
    """Without CALL, cmd.exe would never come back from the wrapper to report and unmap."""
    output, argv = run_bat(winpy, tmp_path, tmp_path, 0)
    assert argv == [windows_python.windows_path(tmp_path), "--root", ".", TASK]
    assert "the runner exited with code 0" in output


def test_a_failing_runner_fails_the_job(winpy: WinPython, tmp_path: Path) -> None:
    """The job fails and says so. Wine's cmd.exe turns any non-zero code of a CALLed
    program into 1 (Windows keeps the code), so the code itself is not checked here."""
    output, argv = run_bat(winpy, tmp_path, tmp_path, 3)
    assert argv == [windows_python.windows_path(tmp_path), "--root", ".", TASK]
    assert "the runner exited with code 0" not in output
    assert "did not succeed (runner exit code" in output
