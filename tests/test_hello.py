"""`hipercow hello` on `local`: every check passes, and a root the node cannot write is a ✖."""

from __future__ import annotations

import json
import os
import platform

from hipercow_core import __version__
from hipercow_core.root import Root
from hipercow_testing import Cli


def test_hello_passes_on_local(cli: Cli, project: Root) -> None:
    said = cli("hello", "--cores", "2", check=False)
    assert said.code == 0, said.output
    lines = said.stdout.splitlines()
    assert lines[0].startswith("hello task ") and lines[0].endswith("on driver local")
    checks = {line.split()[1]: line for line in lines[1:]}
    assert set(checks) == {"node", "OS", "Python", "hipercow", "cores", "memory", "root", "write"}
    assert all(line.startswith("✔") for line in checks.values())
    assert f"{__version__} on the node, {__version__} here" in checks["hipercow"]
    assert f"{platform.python_version()} on the node" in checks["Python"]
    assert "2 given, 2 requested" in checks["cores"]
    assert f"{project.project} on the node" in checks["root"]
    answer = json.loads(cli("hello", "--json").stdout)
    assert answer["ok"] is True and answer["driver"] == "local"
    assert not (project.path / "hello").exists() or not os.listdir(project.path / "hello")


def test_hello_fails_with_a_cross_when_the_node_cannot_write_to_the_root(
    cli: Cli, project: Root
) -> None:
    # where the write test writes is taken by a file, so the node's write fails there
    (project.path / "hello").write_text("not a directory")
    said = cli("hello", check=False)
    assert said.code == 1
    [write] = [line for line in said.stdout.splitlines() if " write " in line]
    assert write.startswith("✖ write")
    assert "the node cannot write to the root" in write
    assert "Traceback" not in said.output


def test_hello_says_why_when_the_task_cannot_run(cli: Cli) -> None:
    said = cli("hello", "--driver", "nonesuch", check=False)
    assert said.code == 1
    assert "Traceback" not in said.output
