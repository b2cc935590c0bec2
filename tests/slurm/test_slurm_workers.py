"""The worker pool with its workers running as jobs on the real Slurm cluster.

The workers are ordinary slurm tasks (one job each, one bundle); the pool's
tasks go to them through Redis and are checked with the usual commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_testing import RedisServer
from slurm.helpers import User

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

CALLS = 1000
SHELLS = 200


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(tmp_path / "redis")
    yield server.url
    server.stop()


def test_workers_as_slurm_jobs_run_calls_and_shell_tasks(slurm: User, redis_url: str) -> None:
    cli = slurm.cli
    (slurm.root.project / "jobs.py").write_text("def triple(x):\n    return 3 * x\n")
    cli("driver", "configure", "workers", f"redis_url={redis_url}", "heartbeat=1")
    started = json.loads(
        cli("worker", "start", "2", "--driver", "slurm", "--idle-timeout", "60s", "--json",
            timeout=300).stdout
    )  # fmt: skip
    assert started["driver"] == "slurm" and len(started["registered"]) == 2
    for worker in started["workers"]:
        assert slurm.info(worker)["driver"] == "slurm"  # each worker is a slurm job
    cli("bulk", "call", "jobs:triple", "--data", f"x=1..{CALLS}", "--name", "calls")
    cli("bulk", "create", "--data", f"i=1..{SHELLS}", "--name", "shells", "--",
        "sh", "-c", "echo on @i")  # fmt: skip
    assert cli("bundle", "wait", "calls", "--timeout", "600", timeout=700).code == 0
    assert cli("bundle", "wait", "shells", "--timeout", "600", timeout=700).code == 0
    values = [r["value"] for r in json.loads(cli("bundle", "result", "calls", "--json").stdout)]
    assert values == [3 * x for x in range(1, CALLS + 1)]
    shells = json.loads(cli("bundle", "status", "shells", "--json").stdout)
    assert len(shells) == SHELLS and {row["status"] for row in shells} == {"success"}
    assert cli("task", "log", shells[9]["id"]).stdout == "on 10\n"
    done = {w["id"]: w["done"] for w in json.loads(cli("worker", "status", "--json").stdout)}
    assert sum(done[w] for w in started["workers"]) == CALLS + SHELLS
    cli("worker", "stop")
    for worker in started["workers"]:
        assert slurm.wait(worker, timeout=120) == "success"
        assert "exited after" in cli("worker", "log", worker).stdout
