"""The Python executor on the real Slurm cluster: `map` over 100 calls as one bundle, one sbatch.

The sweep runs as a user's script (its function defined in `__main__`, so
it travels by value), with an `sbatch` on PATH that logs each call before
running the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from slurm.helpers import User

from hipercow_core.bundle_handles import Bundle

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(1200)]

SCRIPT = """
import json
from hipercow_core import HipercowExecutor, TaskFailedError

def triple(x):
    return 3 * x

def refuse(x):
    raise ValueError(f"refused {x}")

if __name__ == "__main__":
    with HipercowExecutor(max_runtime="10m") as executor:
        values = list(executor.map(triple, range(100), name="triples", timeout=900))
        try:
            executor.submit(refuse, 5).result(timeout=600)
        except TaskFailedError as e:
            failure = {"type": e.error_type, "traceback": e.traceback}
    print(json.dumps({"values": values, "failure": failure}))
"""


def counting_sbatch(directory: Path) -> Path:
    """An `sbatch` that logs each call, then runs the real one; the log's path."""
    import shutil

    real = shutil.which("sbatch")
    assert real is not None
    directory.mkdir()
    log = directory / "calls"
    wrapper = directory / "sbatch"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return log


def test_executor_map_of_100_calls_is_one_bundle_in_one_sbatch(slurm: User, tmp_path: Path) -> None:
    calls = counting_sbatch(tmp_path / "bin")
    script = slurm.root.project / "sweep.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=slurm.root.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["values"] == [3 * x for x in range(100)]
    assert answer["failure"]["type"] == "ValueError"
    assert "in refuse" in answer["failure"]["traceback"]
    # the map's 100 tasks in one sbatch (an array), the failing call in a second
    assert len(calls.read_text().splitlines()) == 2
    bundle = Bundle(slurm.root, "triples")
    jobs = {slurm.info(task.id)["job_id"].split("_")[0] for task in bundle.tasks()}
    assert len(jobs) == 1
    assert [row["value"] for row in bundle.results()] == [3 * x for x in range(100)]
