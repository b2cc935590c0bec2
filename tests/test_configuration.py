"""`hipercow configuration`: one block with versions, drivers, environments, keyring, caches."""

from __future__ import annotations

import json
import platform
import re
import socket

import pytest

from hipercow_core import __version__
from hipercow_core.root import Root
from hipercow_testing import Cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_configuration_shows_the_setup_in_one_block(cli: Cli, project: Root) -> None:
    cli("driver", "configure", "local", "max_cores=2")
    url = f"redis://127.0.0.1:{free_port()}"
    cli("driver", "configure", "workers", f"redis_url={url}")
    shown = cli("configuration").stdout
    assert shown.startswith("[versions]\n")
    assert f"  hipercow              {__version__}" in shown
    assert f"python                {platform.python_version()}" in shown
    assert "[driver local]" in shown and re.search(r"\n  max_cores +2\n", shown)
    assert "[driver workers]" in shown
    assert f"{url} does not answer" in shown
    assert "[environments]" in shown and "empty  hipercow's own Python" in shown
    assert "[keyring]" in shown
    assert f"project         {project.project}" in shown
    blocks = json.loads(cli("configuration", "--json").stdout)
    assert blocks["driver local"]["default"] in ("yes", "no")
    assert blocks["versions"]["hipercow-core"] == __version__


def test_configuration_works_outside_a_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = Cli(tmp_path_factory.mktemp("elsewhere"))
    shown = outside("configuration", check=False)
    assert shown.code == 0, shown.output
    assert "[versions]" in shown.stdout and "[root]" not in shown.stdout
