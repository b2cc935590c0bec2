"""A real redis-server per test session, and a project whose `workers` driver points at it.

Each project root has its own key prefix in Redis, so tests share one server
without seeing each other's queues.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_testing import RedisServer

from hipercow_testing import Cli


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def pool(cli: Cli, redis_server: RedisServer) -> Cli:
    """The CLI of a project whose default driver is the worker pool (heartbeat 0.5 s)."""
    cli("driver", "configure", "workers", f"redis_url={redis_server.url}", "heartbeat=0.5")
    return cli


@pytest.fixture
def module(cli: Cli) -> Path:
    """A module of small functions in the project, for call tasks."""
    path = cli.cwd / "jobs.py"
    path.write_text(
        "import os, time\n"
        "def ident(x):\n    return x\n"
        "def double(x):\n    print('doubling', x)\n    return 2 * x\n"
        "def sleep(s):\n    time.sleep(s)\n    return s\n"
        "def boom():\n    raise ValueError('boom')\n"
        "def crash():\n    os._exit(3)\n"
        "def mark(x):\n"
        "    with open(os.path.join(os.environ['MARKS'], str(x)), 'a') as f:\n"
        "        f.write('x')\n"
        "    time.sleep(0.02)\n"
        "    return x\n"
        "def count(path):\n"
        "    with open(path, 'a') as f:\n        f.write('x')\n"
        "    return 1\n"
    )
    return path
