"""The batch script picks its task by array index and starts the runner for it."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from hipercow_slurm.script import render_script

IDS = ["a" * 32, "b" * 32, "c" * 32]


def render(tmp_path: Path, **kw: object) -> Path:
    fields: dict[str, object] = {
        "task_ids": IDS,
        "project": tmp_path / "my project",
        "runner": ["echo", "runner:"],
        "setup": [],
        "sbatch_args": ["--parsable", "--array=0-2"],
        "written": datetime(2026, 1, 2, tzinfo=UTC),
    }
    fields.update(kw)
    (tmp_path / "my project").mkdir(exist_ok=True)
    script = tmp_path / "job.sh"
    script.write_text(render_script(**fields))  # type: ignore[arg-type]
    return script


def run(script: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run(
        ["bash", str(script)], env={**clean, **env}, capture_output=True, text=True, check=False
    )


def test_script_is_valid_bash(tmp_path: Path) -> None:
    script = render(tmp_path, setup=["module load x", "export A='b c'"])
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_array_element_runs_its_own_task(tmp_path: Path) -> None:
    script = render(tmp_path)
    done = run(script, SLURM_ARRAY_JOB_ID="40", SLURM_ARRAY_TASK_ID="1", SLURM_JOB_ID="42")
    assert done.returncode == 0, done.stderr
    project = tmp_path / "my project"
    assert f"runner: --root {project} {IDS[1]}" in done.stdout
    assert f"task {IDS[1]}, Slurm job 40_1" in done.stdout
    assert "runner exited with code 0" in done.stdout


def test_single_job_runs_the_first_task(tmp_path: Path) -> None:
    script = render(tmp_path, task_ids=IDS[:1])
    done = run(script, SLURM_JOB_ID="42")
    assert f"--root {tmp_path / 'my project'} {IDS[0]}" in done.stdout
    assert "Slurm job 42 " in done.stdout


def test_runner_exit_code_is_the_jobs(tmp_path: Path) -> None:
    script = render(tmp_path, runner=["sh", "-c", "exit 7", "runner"])
    done = run(script, SLURM_JOB_ID="1")
    assert done.returncode == 7
    assert "runner exited with code 7" in done.stdout


def test_failing_setup_stops_before_the_task(tmp_path: Path) -> None:
    script = render(tmp_path, setup=["false"])
    done = run(script, SLURM_JOB_ID="1")
    assert done.returncode != 0
    assert "runner:" not in done.stdout


def test_setup_lines_run_before_the_runner(tmp_path: Path) -> None:
    script = render(
        tmp_path, setup=["export GREETING=hello"], runner=["sh", "-c", "echo $GREETING"]
    )
    done = run(script, SLURM_JOB_ID="1")
    assert "hello" in done.stdout
