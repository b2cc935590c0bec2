"""Secret variables on the real cluster: sealed here, opened by the runner on a Slurm node."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from slurm.helpers import User

from hipercow_testing import BIN

pytestmark = pytest.mark.slurm

TESTS_DIR = Path(__file__).resolve().parents[1]
VALUE = "slurm-tok-8Hc1-e4e4"
TASK = (
    "import hashlib, os, sys, time\n"
    "v = os.environ['TOKEN']\n"
    "print('token is', v, flush=True)\n"
    "sys.stdout.write(v[:4]); sys.stdout.flush(); time.sleep(0.3); print(v[4:])\n"
    "open('hash.txt', 'w').write(hashlib.sha256(v.encode()).hexdigest())\n"
)


def test_a_slurm_node_opens_the_secret_and_the_log_shows_stars(
    slurm: User, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("home-alice")
    keyring = tmp_path_factory.mktemp("keyring") / "secrets.json"
    slurm.cli.env.update(
        {
            "HOME": str(home),
            "LOGNAME": "alice",
            "PYTHON_KEYRING_BACKEND": "windows_hpc.keyring_backend.FileKeyring",
            "HIPERCOW_TEST_KEYRING": str(keyring),
            "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        }
    )
    subprocess.run(
        [str(BIN / "hipercow"), "secret", "set", "TOKEN"],
        cwd=slurm.root.project,
        env=slurm.cli.env,
        input=VALUE,
        text=True,
        check=True,
        capture_output=True,
    )
    outputs = [slurm.cli("secret", "keygen").output]
    task_id = slurm.create("--secret", "TOKEN", "--", sys.executable, "-c", TASK)
    assert slurm.wait(task_id, timeout=120) == "success"
    log = slurm.cli("task", "log", task_id).stdout
    assert log == "token is ***\n***\n"
    hashed = (slurm.root.project / "hash.txt").read_text()
    assert hashed == hashlib.sha256(VALUE.encode()).hexdigest()
    outputs += [slurm.outer_log(task_id), slurm.cli("task", "info", "--json", task_id).stdout]
    for path in slurm.root.path.rglob("*"):
        if path.is_file():
            assert VALUE.encode() not in path.read_bytes(), f"leaked into {path}"
    assert not any(VALUE in text for text in outputs)
