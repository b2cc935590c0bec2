"""The worker pool as one driver of the driver contract suite (tests/contract).

`WorkersAdapter` has what the suite's `DriverAdapter` asks for (name,
patience, `use`, `scheduler_words`), so the suite takes the pool with one
entry: `pytest.param(WorkersAdapter(), id="workers")`. `use` starts a
redis-server for the test, points the project's `workers` driver at it, and
starts two workers through the local driver; afterwards it stops the
workers and the server.

Importable as `workers.pool_adapter` (tests/ is on the path).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from redis_testing import RedisServer

from hipercow_core.root import Root
from hipercow_testing import Cli


class WorkersAdapter:
    name = "workers"
    patience: float = 60

    @contextlib.contextmanager
    def use(self, request: pytest.FixtureRequest, root: Root) -> Iterator[Cli]:
        server = RedisServer(root.project.parent / "redis")
        cli = Cli(root.project)
        try:
            cli("driver", "configure", "workers", f"redis_url={server.url}", "heartbeat=0.5")
            started = cli("worker", "start", "2", "--idle-timeout", "5m", "--json", timeout=120)
            assert len(json.loads(started.stdout)["registered"]) == 2, started.output
            yield cli
            cli("worker", "stop", check=False)
        finally:
            server.stop()  # the project fixture kills the workers' processes

    def scheduler_words(self, task_id: str, job_id: str) -> str:
        return "started by worker"
