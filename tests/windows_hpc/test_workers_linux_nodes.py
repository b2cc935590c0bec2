"""The worker pool with its workers running as jobs on the stand-in portal's Linux nodes.

The workers are ordinary windows-hpc tasks (one portal job each, one bundle),
really run by the stand-in with the cluster share's mount point rewritten;
the pool's tasks reach them through a real redis-server and are checked with
the usual commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hpc_portal import PortalStandin
from redis_testing import RedisServer
from windows_hpc.helpers import Configure, PortalCli

from hipercow_core.root import Root
from hipercow_windows_hpc.credentials import Credentials

pytestmark = [pytest.mark.portal, pytest.mark.slow]

WORKERS = 3
CALLS = 1000
SHELLS = 200


@pytest.fixture
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


def counts(hpc: PortalCli, bundle: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for row in json.loads(hpc("bundle", "status", bundle, "--json").stdout):
        found[row["status"]] = found.get(row["status"], 0) + 1
    return found


def test_workers_as_linux_node_jobs_run_calls_and_shell_tasks(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
    redis_url: str,
) -> None:
    configure()
    (project.project / "jobs.py").write_text(
        "def triple(x):\n    print('tripling', x)\n    return 3 * x\n"
    )
    hpc("driver", "configure", "workers", f"redis_url={redis_url}", "heartbeat=1")
    started = json.loads(
        hpc("worker", "start", str(WORKERS), "--driver", "windows-hpc", "--idle-timeout", "120s",
            "--json", timeout=300).stdout
    )  # fmt: skip
    assert started["driver"] == "windows-hpc"
    assert len(started["registered"]) == WORKERS
    jobs = {str(job["id"]): job for job in portal.jobs()}
    for worker in started["workers"]:
        info = json.loads(hpc("task", "info", worker, "--json").stdout)
        assert info["driver"] == "windows-hpc"  # each worker is a portal job ...
        job = jobs[info["job_id"]]
        assert job["template"] == "LinuxNodes" and job["state"] == "Running"  # ... on Linux

    hpc("bulk", "call", "jobs:triple", "--data", f"x=1..{CALLS}", "--name", "calls")
    hpc("bulk", "create", "--data", f"i=1..{SHELLS}", "--name", "shells", "--",
        "sh", "-c", "echo on node @i")  # fmt: skip
    assert hpc("bundle", "wait", "calls", "--timeout", "600", timeout=700).code == 0
    assert hpc("bundle", "wait", "shells", "--timeout", "600", timeout=700).code == 0
    assert counts(hpc, "calls") == {"success": CALLS}
    assert counts(hpc, "shells") == {"success": SHELLS}
    values = [r["value"] for r in json.loads(hpc("bundle", "result", "calls", "--json").stdout)]
    assert values == [3 * x for x in range(1, CALLS + 1)]
    calls = json.loads(hpc("bundle", "status", "calls", "--json").stdout)
    assert hpc("task", "log", calls[99]["id"]).stdout == "tripling 100\n"
    assert json.loads(hpc("task", "result", calls[99]["id"], "--json").stdout) == 300
    shells = json.loads(hpc("bundle", "status", "shells", "--json").stdout)
    assert hpc("task", "log", shells[9]["id"]).stdout == "on node 10\n"
    assert json.loads(hpc("task", "info", shells[9]["id"], "--json").stdout)["driver"] == "workers"
    done = {w["id"]: w["done"] for w in json.loads(hpc("worker", "status", "--json").stdout)}
    assert sum(done[w] for w in started["workers"]) == CALLS + SHELLS

    hpc("worker", "stop")
    for worker in started["workers"]:
        assert hpc("task", "wait", worker, "--timeout", "120", timeout=180).code == 0
        assert "exited after" in hpc("worker", "log", worker).stdout
        job = portal.job(int(json.loads(hpc("task", "info", worker, "--json").stdout)["job_id"]))
        assert job["state"] == "Finished"
