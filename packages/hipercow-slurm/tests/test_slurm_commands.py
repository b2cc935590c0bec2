"""Transient Slurm failures are retried with back-off, within a bounded time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hipercow_core.errors import DriverError
from hipercow_slurm import commands
from hipercow_slurm.commands import Budget, Output, SlurmError, is_transient


def fake(bin_dir: Path, name: str, body: str) -> Path:
    """A stand-in command; `$COUNT` counts its calls in a file next to it."""
    path = bin_dir / name
    path.write_text(
        "#!/bin/sh\n"
        f'COUNT_FILE="{bin_dir}/{name}.count"\n'
        'COUNT=$(( $(cat "$COUNT_FILE" 2>/dev/null || echo 0) + 1 ))\n'
        'echo $COUNT > "$COUNT_FILE"\n' + body + "\n"
    )
    path.chmod(0o755)
    return path


def calls(bin_dir: Path, name: str) -> int:
    count = bin_dir / f"{name}.count"
    return int(count.read_text()) if count.exists() else 0


@pytest.mark.parametrize(
    "message",
    [
        "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation",
        "squeue: error: slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
    ],
)
def test_transient_messages(message: str) -> None:
    assert is_transient(message)


@pytest.mark.parametrize(
    "message",
    [
        "sbatch: error: invalid partition specified: nope",
        "sbatch: error: Batch job submission failed: Requested node configuration is not available",
    ],
)
def test_permanent_messages(message: str) -> None:
    assert not is_transient(message)


def test_transient_failure_is_retried_until_it_passes(fake_bin: Path) -> None:
    fake(
        fake_bin,
        "sbatch",
        'if [ "$COUNT" -lt 3 ]; then echo "sbatch: error: Socket timed out" >&2; exit 1; fi\n'
        "echo 1234",
    )
    output = commands.run_retrying("sbatch", ["x"], budget=Budget(10))
    assert output.stdout.strip() == "1234"
    assert calls(fake_bin, "sbatch") == 3


def test_permanent_failure_is_not_retried(fake_bin: Path) -> None:
    fake(fake_bin, "sbatch", 'echo "sbatch: error: invalid partition specified: x" >&2; exit 1')
    with pytest.raises(SlurmError) as error:
        commands.run_retrying("sbatch", [], budget=Budget(10))
    assert not error.value.transient
    assert "invalid partition" in error.value.message
    assert calls(fake_bin, "sbatch") == 1


def test_unreachable_controller_is_a_clear_error_within_the_budget(fake_bin: Path) -> None:
    fake(
        fake_bin,
        "squeue",
        'echo "slurm_load_jobs error: Unable to contact slurm controller (connect failure)" >&2\n'
        "exit 1",
    )
    started = time.monotonic()
    with pytest.raises(DriverError) as error:
        commands.run_retrying("squeue", [], budget=Budget(2.0))
    assert time.monotonic() - started < 4
    assert "cannot reach the Slurm controller" in error.value.message
    assert "Unable to contact slurm controller" in error.value.message
    assert error.value.hint
    assert calls(fake_bin, "squeue") >= 2


def test_a_hung_command_is_cut_off(fake_bin: Path) -> None:
    fake(fake_bin, "sinfo", "sleep 30")
    started = time.monotonic()
    with pytest.raises(DriverError):
        commands.run_retrying("sinfo", [], budget=Budget(1.5))
    assert time.monotonic() - started < 6


def test_recover_finds_work_a_lost_answer_did(fake_bin: Path) -> None:
    fake(fake_bin, "sbatch", 'echo "sbatch: error: Socket timed out on send/recv" >&2; exit 1')
    output = commands.run_retrying(
        "sbatch", [], budget=Budget(10), recover=lambda: Output("77\n", "")
    )
    assert output.stdout == "77\n"
    assert calls(fake_bin, "sbatch") == 1


def test_missing_command_says_what_to_do(fake_bin: Path) -> None:
    with pytest.raises(DriverError) as error:
        commands.run("no-such-slurm-command", [])
    assert "not found" in error.value.message
    assert error.value.hint


def test_stderr_is_kept_on_success(fake_bin: Path) -> None:
    fake(fake_bin, "scancel", 'echo "scancel: error: Kill job error on job id 5: done" >&2')
    output = commands.run("scancel", ["5"])
    assert "job id 5" in output.stderr


@pytest.mark.parametrize(
    ("message", "queue_full", "submit_limit"),
    [
        # At MaxJobCount sbatch retries by itself, then gives up with these words.
        (
            "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\n"
            "sbatch: error: Batch job submission failed: Resource temporarily unavailable",
            True,
            False,
        ),
        (
            "sbatch: error: AssocMaxSubmitJobLimit\nsbatch: error: Batch job submission failed: "
            "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
            False,
            True,
        ),
        ("sbatch: error: QOSMaxSubmitJobPerUserLimit", False, True),
    ],
)
def test_full_queues_and_submit_limits_are_recognised_and_not_retried(
    message: str, queue_full: bool, submit_limit: bool
) -> None:
    error = SlurmError("sbatch", message, transient=is_transient(message))
    assert (error.queue_full, error.submit_limit, error.transient) == (
        queue_full,
        submit_limit,
        False,
    )


def test_a_refused_connection_is_not_looked_up_and_costs_only_the_budget(fake_bin: Path) -> None:
    """The controller is down: no job can exist, so no squeue per attempt, and no overrun."""
    fake(
        fake_bin,
        "sbatch",
        'echo "sbatch: error: Batch job submission failed: Unable to contact slurm controller'
        ' (connect failure)" >&2; sleep 0.5; exit 1',
    )
    looked_up: list[int] = []

    def recover() -> Output | None:
        looked_up.append(1)
        return None

    started = time.monotonic()
    with pytest.raises(DriverError, match="cannot reach the Slurm controller"):
        commands.run_retrying(
            "sbatch", [], budget=Budget(2.0), recover=recover, attempt_timeout=120
        )
    assert time.monotonic() - started < 3.5
    assert looked_up == []
    assert calls(fake_bin, "sbatch") >= 2


def test_a_command_past_its_timeout_is_killed_and_what_it_said_is_kept(fake_bin: Path) -> None:
    fake(fake_bin, "squeue", 'echo "squeue: waiting for the controller" >&2; exec sleep 30')
    started = time.monotonic()
    with pytest.raises(SlurmError) as raised:
        commands.run("squeue", [], timeout=1.0)
    assert time.monotonic() - started < 3
    assert raised.value.timed_out
    assert "it said: squeue: waiting for the controller" in raised.value.message


def test_the_driver_loads_without_sh_and_the_first_command_loads_it(fake_bin: Path) -> None:
    """Commands that only read task files never pay for `sh`; a fresh interpreter shows it."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from hipercow_slurm import driver, commands\n"
        "assert 'sh' not in sys.modules, 'the driver imported sh'\n"
        "print(commands.run('echo', ['hi']).stdout, end='')\n"
        "assert 'sh' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hi\n"
