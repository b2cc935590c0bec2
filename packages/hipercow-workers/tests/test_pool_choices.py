"""Choices the pool makes without Redis: which driver runs the workers, durations, key names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hipercow_core.drivers.registry import configure_driver
from hipercow_core.errors import InvalidInputError
from hipercow_core.root import Root
from hipercow_workers.cli import _seconds
from hipercow_workers.keys import Keys, namespace
from hipercow_workers.pool import cluster_driver_name


@pytest.fixture
def root(tmp_path: Path) -> Root:
    project = tmp_path / "project"
    project.mkdir()
    return Root.init(project)[0]


def test_workers_run_on_local_when_only_the_pool_is_configured(root: Root) -> None:
    configure_driver(root, "workers", {"redis_url": "redis://127.0.0.1:1"})
    assert cluster_driver_name(root, None) == "local"


def test_workers_run_on_the_other_configured_driver(root: Root) -> None:
    configure_driver(root, "local", {"max_cores": 1})
    configure_driver(root, "workers", {})  # now the default for tasks
    assert root.machine_config().default == "workers"
    assert cluster_driver_name(root, None) == "local"
    assert cluster_driver_name(root, "slurm") == "slurm"


def test_the_pool_cannot_run_its_own_workers(root: Root) -> None:
    with pytest.raises(InvalidInputError, match="worker pool itself"):
        cluster_driver_name(root, "workers")


@pytest.mark.parametrize(
    ("text", "seconds"), [("600", 600), ("90s", 90), ("10m", 600), ("1h", 3600), ("0", 0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert _seconds(text) == seconds


def test_a_bad_duration_says_what_to_give() -> None:
    with pytest.raises(InvalidInputError, match="not a duration"):
        _seconds("soon")


def test_the_key_prefix_is_the_same_wherever_the_share_is_mounted(
    root: Root, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "mounted-elsewhere"
    shutil.copytree(root.project, elsewhere)
    assert namespace(Root(elsewhere)) == namespace(root)
    assert Keys(namespace(root)).queue.startswith("hipercow:")
    (tmp_path / "other").mkdir()
    other = Root.init(tmp_path / "other")[0]
    assert namespace(other) != namespace(root)
