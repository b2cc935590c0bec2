"""The scripts nodes run, rendered from the template files shipped in the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipercow_core.root import Root
from hipercow_windows_hpc.batch import ScriptSettings, load_template, write_job_script
from hipercow_windows_hpc.paths import DEFAULT_LINUX_MOUNTS
from hipercow_windows_hpc.shares import Share, locate

TASK = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def root(tmp_path: Path) -> Root:
    project = tmp_path / "share" / "proj"
    project.mkdir(parents=True)
    root, _ = Root.init(project)
    root.task_dir(TASK).mkdir(parents=True)
    return root


def settings_for(root: Root, shares: list[Share], **more: str) -> ScriptSettings:
    return ScriptSettings(
        project=locate(root.project, shares),
        shares=shares,
        runner=more.get("runner", "hipercow-task-run"),
        python_version="3.12",
        python_module=more.get("module"),
        linux_rules=DEFAULT_LINUX_MOUNTS,
    )


def two_shares(root: Root) -> list[Share]:
    from hipercow_windows_hpc.paths import Unc

    return [
        Share(str(root.project.parent), Unc.parse("//wpia-hn/hipercow"), "V:"),
        Share("/home/bob/net/home", Unc.parse("//qdrive/homes/bob"), "Q:"),
    ]


def test_templates_are_files_in_the_package() -> None:
    assert "{{map_shares}}" in load_template("run.bat")
    assert "{{runner}} --root {{project}} {{task_id}}" in load_template("run.sh")


def test_windows_batch_file_maps_every_share(root: Root) -> None:
    script = write_job_script(root, TASK, settings_for(root, two_shares(root)), "windows")
    assert script.path == root.task_dir(TASK) / "run.bat"
    assert script.workdir == ""
    unc = (
        "\\\\wpia-hn\\hipercow\\proj\\hipercow\\tasks\\01\\23456789abcdef0123456789abcdef\\run.bat"
    )
    assert script.command == f'call "{unc}"'
    raw = script.path.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    text = raw.decode().replace("\r\n", "\n")
    # Mapped for this job only, and checked: a failed mapping ends the job.
    assert (
        'NET USE V: "\\\\wpia-hn\\hipercow" /PERSISTENT:NO /Y\nIF ERRORLEVEL 1 GOTO nomap' in text
    )
    assert (
        'NET USE Q: "\\\\qdrive\\homes\\bob" /PERSISTENT:NO /Y\nIF ERRORLEVEL 1 GOTO nomap' in text
    )
    assert "\n:nomap\n" in text
    assert "NET USE V: /DELETE /Y" in text and "NET USE Q: /DELETE /Y" in text
    assert 'CD /D "V:\\proj"' in text
    # CALLed, so a .bat runner returns; started in the project, given it as ".".
    assert f"CALL hipercow-task-run --root . {TASK}" in text
    # Success is the runner's exit status, never a match on the task's JSON files.
    assert "finished.json" not in text
    assert 'IF "%HIPERCOW_EXIT%"=="0" EXIT /B 0' in text
    assert "{{" not in text


def test_linux_script_uses_the_nodes_mount_points(root: Root) -> None:
    settings = settings_for(root, two_shares(root), module="Python/3.12.4-GCCcore-13.3.0")
    script = write_job_script(root, TASK, settings, "linux")
    tdir = "/mnt/cluster/proj/hipercow/tasks/01/23456789abcdef0123456789abcdef"
    assert script.command == f"bash {tdir}/run.sh"
    assert script.workdir == "/mnt/cluster/proj"
    text = script.path.read_text()
    assert text.startswith("#!/bin/bash\n") and "\r" not in text
    assert "HIPERCOW_PYTHON_MODULE=Python/3.12.4-GCCcore-13.3.0" in text
    assert f"hipercow-task-run --root /mnt/cluster/proj {TASK}" in text
    assert "finished.json" not in text
    assert 'if [ "$code" -eq 0 ]; then' in text


def test_batch_values_are_escaped(tmp_path: Path) -> None:
    project = tmp_path / "100% sure"
    project.mkdir()
    root, _ = Root.init(project)
    root.task_dir(TASK).mkdir(parents=True)
    from hipercow_windows_hpc.paths import Unc

    shares = [Share(str(tmp_path), Unc.parse("//wpia-hn/hipercow"), "V:")]
    text = write_job_script(root, TASK, settings_for(root, shares), "windows").path.read_text()
    assert 'CD /D "V:\\100%% sure"' in text
    linux = write_job_script(root, TASK, settings_for(root, shares), "linux").path.read_text()
    assert "cd '/mnt/cluster/100% sure'" in linux


SPECIAL_NAMES = ["my project", "100% sure", "wow!", "a^b", "R&D", "data (copy)", "Müller ü"]


def _quoted_spans(line: str) -> list[tuple[int, int]]:
    """The spans of a batch line inside double quotes, as cmd.exe pairs them."""
    spans, start = [], None
    for index, char in enumerate(line):
        if char == '"':
            if start is None:
                start = index + 1
            else:
                spans.append((start, index))
                start = None
    return spans


@pytest.mark.parametrize("name", [*SPECIAL_NAMES, "".join(SPECIAL_NAMES)])
def test_the_batch_file_is_right_for_any_project_path(tmp_path: Path, name: str) -> None:
    """cmd.exe reads it as meant: UTF-8 before any path, `!` literal, paths quoted, `%` doubled."""
    from hipercow_windows_hpc.paths import Unc

    project = tmp_path / "share" / name
    project.mkdir(parents=True)
    root, _ = Root.init(project)
    root.task_dir(TASK).mkdir(parents=True)
    shares = [Share(str(tmp_path / "share"), Unc.parse("//wpia-hn/hipercow"), "V:")]
    raw = write_job_script(root, TASK, settings_for(root, shares), "windows").path.read_bytes()
    lines = raw.decode("utf-8").split("\r\n")
    # The code page switch and delayed expansion come before any byte that needs them.
    assert lines[:3] == ["@ECHO OFF", "CHCP 65001 > NUL", "SETLOCAL DisableDelayedExpansion"]
    assert all(line.isascii() for line in lines[:3])
    escaped = "V:\\" + name.replace("%", "%%")
    uses = [line for line in lines if escaped in line]
    hook = escaped + "\\hipercow\\setup.bat"
    assert len(uses) == 5  # CD /D and its error message; the setup hook's test, call, message
    for line in uses:
        at = line.index(escaped)
        # inside one pair of quotes that holds exactly the path (or the hook in it)
        spans = _quoted_spans(line)
        assert (at, at + len(escaped)) in spans or (at, at + len(hook)) in spans, line
    # no other line holds the path, unescaped or unquoted
    assert [line for line in lines if name in line and line not in uses] == []


def test_the_batch_file_sets_up_the_node(root: Root) -> None:
    """Cores default to 1, Python of the chosen version and uv's tools on PATH, a setup hook."""
    text = write_job_script(root, TASK, settings_for(root, two_shares(root)), "windows")
    lines = text.path.read_text(encoding="utf-8").splitlines()
    assert lines.index("SET HIPERCOW_CORES=1") + 1 == lines.index(
        "IF DEFINED CCP_NUMCPUS SET HIPERCOW_CORES=%CCP_NUMCPUS%"
    )
    assert "SET HIPERCOW_PYTHON_VERSION=3.12" in lines
    path = next(line for line in lines if line.startswith('SET "PATH='))
    assert "\\Programs\\Python\\Python312;" in path and "\\Python312\\Scripts;" in path
    assert "%USERPROFILE%\\.local\\bin;" in path and path.endswith(';%PATH%"')
    hook = "V:\\proj\\hipercow\\setup.bat"
    assert f'IF NOT EXIST "{hook}" GOTO run' in lines
    assert f'CALL "{hook}"' in lines
    assert lines.index(f'CALL "{hook}"') < lines.index(f"CALL hipercow-task-run --root . {TASK}")


def test_the_batch_file_has_no_blocks_a_path_could_break(root: Root) -> None:
    """A `)` in an echoed path would end a parenthesised block early: there are none."""
    text = write_job_script(root, TASK, settings_for(root, two_shares(root)), "windows")
    code = [
        line
        for line in text.path.read_text(encoding="utf-8").splitlines()
        if not line.upper().startswith("REM ")
    ]
    assert not [line for line in code if line.rstrip().endswith("(") or line.strip() == ")"]
