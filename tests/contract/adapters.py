"""The drivers of the contract suite: one adapter each, and the user who drives them.

Each driver joins the suite with ONE entry in `DRIVERS`: a small adapter
that knows how to point a project at its cluster (and what to clean up
afterwards), how long a short task may take there, and what its scheduler
writes in a task's outer log. The tests see a driver only as a user does,
through the `hipercow` command (`User`).

- `local` runs on this machine, in seconds;
- `slurm` runs on the real cluster (tools/slurm-cluster), brought up for the
  session and shared with tests/slurm through `slurm.cluster`'s access lock;
- `windows-hpc` runs against the stand-in portal (tools/hpc-portal), whose
  Linux nodes really run the job scripts on this machine, set up by the
  fixtures tests/windows_hpc uses (`windows_hpc.fixtures`);
- `workers` runs on two pool workers (tasks of the `local` driver) fed by a
  redis-server started for the test.

Importable as `contract.adapters` (tests/ is on the path).
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psutil
import pytest
from redis_testing import RedisServer
from slurm import cluster
from slurm.helpers import cancel_jobs_of

from hipercow_core.root import Root
from hipercow_core.schema import RunningMarker
from hipercow_testing import Cli, wait_until


class DriverAdapter(ABC):
    """What the suite must know of one driver: how a project uses it, and its outer log."""

    #: The driver's name, as `hipercow driver configure` and `cluster info` spell it.
    name: str
    #: Seconds a short task may take from creation to its end on this cluster (a
    #: limit for polling, generous for a loaded machine; tests take far less).
    patience: float = 60

    @abstractmethod
    def use(
        self, request: pytest.FixtureRequest, root: Root
    ) -> contextlib.AbstractContextManager[Cli]:
        """Configure the project for the driver; the CLI to use, while the cluster is held."""

    @abstractmethod
    def scheduler_words(self, task_id: str, job_id: str) -> str:
        """Text the scheduler's part of a started task's outer log always holds."""

    def own_tasks(self, cli: Cli) -> set[str]:
        """Tasks the driver itself keeps in the project (the pool's workers), not the test's."""
        return set()

    def own_bundles(self, cli: Cli) -> set[str]:
        """Bundles of those tasks."""
        return set()


class LocalAdapter(DriverAdapter):
    name = "local"

    @contextlib.contextmanager
    def use(self, request: pytest.FixtureRequest, root: Root) -> Iterator[Cli]:
        cli = Cli(root.project)
        cli("driver", "configure", "local")
        yield cli  # the project fixture kills the daemon and runners

    def scheduler_words(self, task_id: str, job_id: str) -> str:
        return "started runner pid"


class SlurmAdapter(DriverAdapter):
    name = "slurm"
    patience = 180

    @contextlib.contextmanager
    def use(self, request: pytest.FixtureRequest, root: Root) -> Iterator[Cli]:
        request.getfixturevalue("slurm_cluster")
        cli = Cli(root.project)
        with cluster.cluster_access(exclusive=False):
            cluster.configure(cli)
            try:
                yield cli
            finally:
                cancel_jobs_of(root)

    def scheduler_words(self, task_id: str, job_id: str) -> str:
        return f"hipercow: task {task_id}, Slurm job {job_id} on node"


class WindowsHpcAdapter(DriverAdapter):
    name = "windows-hpc"

    @contextlib.contextmanager
    def use(self, request: pytest.FixtureRequest, root: Root) -> Iterator[Cli]:
        request.getfixturevalue("logged_in")
        request.getfixturevalue("configure")()  # the stand-in's fixture closes it afterwards
        env: dict[str, str] = request.getfixturevalue("keyring_env")
        yield Cli(root.project, env)

    def scheduler_words(self, task_id: str, job_id: str) -> str:
        return f"hipercow: task {task_id} on"


class WorkersAdapter(DriverAdapter):
    """The worker pool: a redis-server for the test, two workers started through `local`."""

    name = "workers"

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

    def own_tasks(self, cli: Cli) -> set[str]:
        return {w["id"] for w in json.loads(cli("worker", "status", "--json").stdout)}

    def own_bundles(self, cli: Cli) -> set[str]:
        infos = [json.loads(cli("task", "info", t, "--json").stdout) for t in self.own_tasks(cli)]
        return {info["data"]["bundle"] for info in infos}


#: Every driver, one parameter each.
DRIVERS = [
    pytest.param(LocalAdapter(), id="local"),
    pytest.param(SlurmAdapter(), id="slurm", marks=pytest.mark.slurm),
    pytest.param(WindowsHpcAdapter(), id="windows-hpc", marks=pytest.mark.portal),
    pytest.param(WorkersAdapter(), id="workers"),
]


class User:
    """A user of a project on one driver: the `hipercow` command and what they would check."""

    def __init__(self, adapter: DriverAdapter, root: Root, cli: Cli) -> None:
        self.adapter = adapter
        self.name = adapter.name
        self.root = root
        self.cli = cli

    def create(self, *args: str) -> str:
        """`hipercow task create ARGS`; the new task's id."""
        return self.cli("task", "create", *args).stdout.strip().splitlines()[-1]

    def json(self, *args: str) -> Any:
        """A command's `--json` output, parsed (whatever its exit code: `wait` exits 1 on failure)."""
        result = self.cli(*args, "--json", check=False)
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError:
            raise AssertionError(
                f"hipercow {' '.join(args)} --json printed no JSON (exit {result.code}):\n"
                f"{result.output}"
            ) from None

    def status(self, task_id: str) -> str:
        return self.cli("task", "status", task_id, check=False).stdout.strip()

    def info(self, task_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.json("task", "info", task_id)
        return info

    def wait(self, task_id: str) -> str:
        """Wait for the task to end with `hipercow task wait`; its final status."""
        self.cli("task", "wait", task_id, "--timeout", str(self.adapter.patience), check=False)
        return self.status(task_id)

    def wait_for_status(self, task_id: str, *statuses: str) -> None:
        wait_until(
            lambda: self.status(task_id) in statuses, timeout=self.adapter.patience, interval=0.2
        )

    def runner(self, task_id: str) -> psutil.Process:
        """The task's runner process, once it has started (its pid from running.json)."""
        path = self.root.task_dir(task_id) / "running.json"
        wait_until(path.exists, timeout=self.adapter.patience)
        marker = msgspec.json.decode(path.read_bytes(), type=RunningMarker)
        return psutil.Process(marker.pid)

    def path(self, name: str) -> Path:
        return self.root.project / name
