"""One squeue per poll, at most every 2 s across processes, for any number of tasks."""

from __future__ import annotations

import time
from pathlib import Path

from hipercow_slurm import queue
from hipercow_slurm.commands import Budget

SQUEUE = """#!/bin/sh
echo "$@" >> "{log}"
cat <<'OUT'
12_0|RUNNING|0|0|None
12_1|PENDING|0|0|Resources
13|FAILED|768|0|NonZeroExitCode
OUT
"""


def squeue_calls(fake_bin: Path) -> list[str]:
    log = fake_bin / "squeue.log"
    return log.read_text().splitlines() if log.exists() else []


def install(fake_bin: Path, script: str = SQUEUE) -> None:
    path = fake_bin / "squeue"
    path.write_text(script.format(log=fake_bin / "squeue.log"))
    path.chmod(0o755)


def test_one_call_covers_every_job(fake_bin: Path) -> None:
    install(fake_bin)
    states = queue.job_states(["12_0", "12_1", "13"], budget=Budget())
    assert states["12_0"].state == "RUNNING"
    assert states["13"].exit_code == 3
    (call,) = squeue_calls(fake_bin)
    # --me: asked by job ids alone, the controller would pack every job on the cluster.
    assert "--me" in call
    assert "--jobs" not in call
    assert "--states=all" in call


def test_jobs_missing_from_this_users_answer_are_asked_by_id(fake_bin: Path) -> None:
    install(fake_bin)
    queue.job_states(["12_0", "77_1"], budget=Budget())
    mine, by_id = squeue_calls(fake_bin)
    assert "--me" in mine
    assert "--jobs=77" in by_id
    assert "--me" not in by_id


def test_processes_share_the_last_answer_through_the_cache(fake_bin: Path, tmp_path: Path) -> None:
    install(fake_bin)
    cache = tmp_path / "cache"
    queue.job_states(["12_0"], budget=Budget(), cache=cache)
    queue.reset()  # as a new process would start
    assert queue.job_states(["13"], budget=Budget(), cache=cache)["13"].state == "FAILED"
    assert len(squeue_calls(fake_bin)) == 1
    # A new question, once the answer is old, waits out the interval since the last call.
    queue.reset()
    started = time.monotonic()
    queue.job_states(["99"], budget=Budget(), cache=cache)
    assert len(squeue_calls(fake_bin)) == 3
    assert time.monotonic() - started >= queue.MIN_INTERVAL - 0.5


def test_answers_are_reused_for_two_seconds(fake_bin: Path) -> None:
    install(fake_bin)
    queue.job_states(["12_0", "12_1", "13"], budget=Budget())
    for _ in range(5):
        queue.job_states(["12_0"], budget=Budget())
        queue.job_states(["13", "12_1"], budget=Budget())
    assert len(squeue_calls(fake_bin)) == 1


def test_new_questions_wait_out_the_interval(fake_bin: Path) -> None:
    install(fake_bin)
    queue.job_states(["12_0"], budget=Budget())
    time.sleep(queue.MIN_INTERVAL / 2)
    started = time.monotonic()
    queue.job_states(["99"], budget=Budget())
    assert time.monotonic() - started >= queue.MIN_INTERVAL / 2 - 0.1
    assert len(squeue_calls(fake_bin)) == 3


def test_jobs_slurm_no_longer_knows_are_absent(fake_bin: Path) -> None:
    install(
        fake_bin,
        '#!/bin/sh\necho "$@" >> "{log}"\n'
        'case "$*" in *--jobs=*) ;; *) exit 0;; esac\n'
        'echo "slurm_load_jobs error: Invalid job id specified" >&2\nexit 1\n',
    )
    assert queue.job_states(["5", "6_1"], budget=Budget()) == {}


def test_without_accounting_sacct_is_asked_once(fake_bin: Path) -> None:
    sacct = fake_bin / "sacct"
    sacct.write_text(
        f'#!/bin/sh\necho x >> "{fake_bin}/sacct.log"\n'
        'echo "Slurm accounting storage is disabled" >&2\nexit 1\n'
    )
    sacct.chmod(0o755)
    assert queue.accounting_states(["5"], budget=Budget()) == {}
    assert queue.accounting_states(["6"], budget=Budget()) == {}
    assert (fake_bin / "sacct.log").read_text().count("x") == 1


def test_accounting_answers_for_forgotten_jobs(fake_bin: Path) -> None:
    sacct = fake_bin / "sacct"
    sacct.write_text(
        "#!/bin/sh\nprintf '5|TIMEOUT|0:0|hipercow-a|T\\n5.batch|CANCELLED|0:15||\\n"
        "6|COMPLETED|0:0|someone-else|T\\n'\n"
    )
    sacct.chmod(0o755)
    states = queue.accounting_states(
        ["5", "6"], budget=Budget(), names={"5": "hipercow-a", "6": "hipercow-b"}
    )
    assert states is not None
    assert states["5"].state == "TIMEOUT"
    # Job 6 is a newer job with the same number (ids were reset): not the one asked about.
    assert "6" not in states
