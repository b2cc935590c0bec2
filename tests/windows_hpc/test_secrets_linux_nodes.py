"""Secret variables on the portal's Linux nodes: sealed on this machine, opened on the node.

The stand-in runs node jobs with this process's environment, so the node
sees the same home directory (the user's home on the cluster) as the CLI.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import Configure, PortalCli

from hipercow_core.root import Root
from hipercow_windows_hpc.credentials import Credentials

pytestmark = pytest.mark.portal

VALUE = "portal-tok-Q7x2-9dd1"
TASK = (
    "import hashlib, os, sys, time\n"
    "v = os.environ['TOKEN']\n"
    "print('token is', v, flush=True)\n"
    "sys.stdout.write(v[:6]); sys.stdout.flush(); time.sleep(0.3); print(v[6:])\n"
    "open('hash.txt', 'w').write(hashlib.sha256(v.encode()).hexdigest())\n"
)


def as_user(hpc: PortalCli, monkeypatch: pytest.MonkeyPatch, home: Path, user: str) -> None:
    """Be `user` with `home`, both in the CLI and on the nodes (which inherit our environment)."""
    home.mkdir(exist_ok=True)
    for name, value in (("HOME", str(home)), ("LOGNAME", user), ("USER", user)):
        monkeypatch.setenv(name, value)
        hpc.env[name] = value


def assert_nowhere(value: str, share: Path, outputs: list[str]) -> None:
    """Not in any file of the share (root, logs, cache, the portal's copies), nor any output."""
    for path in share.rglob("*"):
        if path.is_file() and path.name != "secret-key.json":
            assert value.encode() not in path.read_bytes(), f"leaked into {path}"
    for text in outputs:
        assert value not in text


def test_a_linux_node_opens_the_secret_and_the_log_shows_stars(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
    share: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    configure()
    as_user(hpc, monkeypatch, tmp_path_factory.mktemp("home-bob"), "bob")
    hpc("secret", "set", "TOKEN", stdin=VALUE + "\n")
    hpc("secret", "keygen")
    task_id = hpc(
        "task", "create", "--secret", "TOKEN", "--", sys.executable, "-c", TASK
    ).stdout.strip()
    waited = hpc("task", "wait", task_id, "--timeout", "60", check=False)
    assert waited.code == 0, waited.output
    assert hpc("task", "log", task_id).stdout == "token is ***\n***\n"
    assert (project.project / "hash.txt").read_text() == hashlib.sha256(VALUE.encode()).hexdigest()
    hpc("task", "log", "--outer", task_id)
    hpc("task", "info", "--json", task_id)
    [job] = portal.jobs()
    assert VALUE not in json.dumps(job)
    assert_nowhere(VALUE, share, hpc.outputs)


def test_a_node_with_another_users_key_fails_and_leaks_nothing(
    hpc: PortalCli,
    project: Root,
    configure: Configure,
    portal: PortalStandin,
    logged_in: Credentials,
    share: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    configure()
    as_user(hpc, monkeypatch, tmp_path_factory.mktemp("home-alice"), "alice")
    hpc("secret", "set", "TOKEN", stdin=VALUE + "\n")
    hpc("secret", "keygen")
    made = hpc(
        "bulk",
        "create",
        "--repeat",
        "1",
        "--no-submit",
        "--secret",
        "TOKEN",
        "--json",
        "--",
        "sh",
        "-c",
        'echo "$TOKEN" > leaked.txt',
    )
    [task_id] = json.loads(made.stdout)["task_ids"]
    bob_home = tmp_path_factory.mktemp("home-bob")
    as_user(hpc, monkeypatch, bob_home, "bob")
    hpc("secret", "keygen")
    hpc("task", "submit", task_id)
    assert hpc("task", "wait", task_id, "--timeout", "60", check=False).code == 1
    info = json.loads(hpc("task", "info", "--json", task_id).stdout)
    assert (info["status"], info["reason"]) == ("failure", "secrets")
    assert hpc("task", "log", task_id).stdout.splitlines()[0] == (
        "hipercow: the task's secrets were sealed for alice's key, but the key at "
        f"{bob_home}/.hipercow/secret-key.json is bob's key"
    )
    assert not (project.project / "leaked.txt").exists()
    assert_nowhere(VALUE, share, hpc.outputs)
