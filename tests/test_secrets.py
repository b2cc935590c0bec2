"""Secret environment variables end to end through the local driver.

Each test checks what a user would: the task saw the real value (it writes
a hash of it), its log shows `***`, and the value appears in no file of the
root (task data, logs, cache, config) and in no command's output.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hipercow_core.root import Root
from hipercow_testing import BIN, Cli, Result

TESTS_DIR = Path(__file__).parent
VALUE = "tok-3f9a-Zq81-secret"
OTHER = "pw-from-the-environment-77"

#: The task prints its secret whole, then split across two writes, and hashes it.
PRINTS_AND_HASHES = (
    "import hashlib, os, sys, time\n"
    "v = os.environ['TOKEN']\n"
    "print('token is', v, flush=True)\n"
    "sys.stdout.write('split ' + v[:5]); sys.stdout.flush(); time.sleep(0.3)\n"
    "sys.stderr.write(v[5:] + ' end\\n'); sys.stderr.flush()\n"
    "open('hash.txt', 'w').write(hashlib.sha256(v.encode()).hexdigest())\n"
)


class SecretCli(Cli):
    """`hipercow` as one user (own home, own keyring file); records every output."""

    def __init__(self, cwd: Path, home: Path, user: str, keyring: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        super().__init__(
            cwd,
            {
                "HOME": str(home),
                "USER": user,
                "LOGNAME": user,
                "PYTHON_KEYRING_BACKEND": "windows_hpc.keyring_backend.FileKeyring",
                "HIPERCOW_TEST_KEYRING": str(keyring),
                "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
            },
        )
        self.home = home
        self.outputs: list[str] = []

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120, cwd: Path | None = None
    ) -> Result:
        result = super().__call__(*args, check=check, timeout=timeout, cwd=cwd)
        self.outputs.append(result.output)
        return result

    def set_secret(self, name: str, value: str) -> Result:
        done = subprocess.run(
            [str(BIN / "hipercow"), "secret", "set", name],
            cwd=self.cwd,
            env=self.env,
            input=value + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        self.outputs.append(result.output)
        return result


@pytest.fixture
def alice(project: Root, tmp_path: Path) -> SecretCli:
    return SecretCli(project.project, tmp_path / "alice", "alice", tmp_path / "alice-keyring.json")


def assert_nowhere(values: list[str], root: Root, outputs: list[str]) -> None:
    """No file under the root and no command output holds any of the values."""
    for path in root.path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for value in values:
                assert value.encode() not in content, f"{value} leaked into {path}"
    for text in outputs:
        for value in values:
            assert value not in text, f"{value} leaked into output: {text}"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_a_task_sees_its_secret_and_nothing_else_does(alice: SecretCli, project: Root) -> None:
    alice.set_secret("TOKEN", VALUE)
    assert alice("secret", "list").stdout == "TOKEN\n"
    assert json.loads(alice("secret", "list", "--json").stdout) == {"secrets": ["TOKEN"]}
    made = alice("secret", "keygen")
    assert "Made a key pair for alice" in made.stdout
    task_id = alice(
        "task", "create", "--secret", "TOKEN", "--", sys.executable, "-c", PRINTS_AND_HASHES
    ).stdout.strip()
    alice("task", "wait", task_id, "--timeout", "60")
    assert alice("task", "log", task_id).stdout == "token is ***\nsplit *** end\n"
    assert (project.project / "hash.txt").read_text() == sha(VALUE)
    info = alice("task", "info", task_id).stdout
    assert "secrets  TOKEN (sealed for alice)" in info
    data = json.loads(alice("task", "info", "--json", task_id).stdout)["data"]
    assert set(data["secrets"]["values"]) == {"TOKEN"}
    alice("task", "list")
    alice("task", "status", task_id)
    assert_nowhere([VALUE], project, alice.outputs)


def test_secrets_from_the_environment_and_on_bulk_tasks(alice: SecretCli, project: Root) -> None:
    alice.set_secret("TOKEN", VALUE)
    alice("secret", "keygen")
    alice.env["MY_DB_PASSWORD"] = OTHER
    script = 'printf \'%s %s\\n\' "$TOKEN" "$DB"; printf %s "$DB" | sha256sum > db-@n.txt'
    made = alice(
        "bulk",
        "create",
        "--data",
        "n=1,2",
        "--secret",
        "TOKEN",
        "--secret",
        "DB=MY_DB_PASSWORD",
        "--json",
        "--",
        "sh",
        "-c",
        script,
    )
    task_ids = json.loads(made.stdout)["task_ids"]
    for task_id in task_ids:
        alice("task", "wait", task_id, "--timeout", "60")
        assert alice("task", "log", task_id).stdout == "*** ***\n"
    for n in (1, 2):
        assert (project.project / f"db-{n}.txt").read_text().split()[0] == sha(OTHER)
    retried = alice("task", "retry", task_ids[0]).stdout.split()[-1]
    alice("task", "wait", retried, "--timeout", "60")
    assert alice("task", "log", retried).stdout == "*** ***\n"
    del alice.env["MY_DB_PASSWORD"]
    assert_nowhere([VALUE, OTHER], project, alice.outputs)


def test_secret_delete_forgets_the_name_and_value(alice: SecretCli) -> None:
    alice.set_secret("TOKEN", VALUE)
    alice.set_secret("OTHER", OTHER)
    deleted = alice("secret", "delete", "TOKEN")
    assert deleted.stderr == "Secret TOKEN deleted\n"
    assert alice("secret", "list").stdout == "OTHER\n"
    again = alice("secret", "delete", "TOKEN", check=False)
    assert again.code == 1
    assert again.stderr.splitlines() == [
        "Error: secret 'TOKEN' is not set on this machine",
        "  Set it with 'hipercow secret set TOKEN' ('hipercow secret list' shows those set).",
    ]


def test_bad_secrets_are_refused_in_two_lines_and_create_nothing(
    alice: SecretCli, project: Root
) -> None:
    not_set = alice("task", "create", "--secret", "TOKEN", "--", "true", check=False)
    assert (not_set.code, not_set.stderr.splitlines()[0]) == (
        1,
        "Error: secret 'TOKEN' is not set on this machine",
    )
    alice.set_secret("TOKEN", VALUE)
    no_keys = alice("task", "create", "--secret", "TOKEN", "--", "true", check=False)
    assert no_keys.code == 1
    assert no_keys.stderr.splitlines() == [
        "Error: there is no key pair for user alice in this root",
        "  Run 'hipercow secret keygen' to make one.",
    ]
    no_env = alice("task", "create", "--secret", "DB=NOT_SET_HERE", "--", "true", check=False)
    assert no_env.code == 1
    assert "environment variable NOT_SET_HERE (for secret DB) is not set" in no_env.stderr
    bad_name = alice("task", "create", "--secret", "9LIVES", "--", "true", check=False)
    assert bad_name.stderr.splitlines()[0] == "Error: '9LIVES' is not a valid secret name"
    alice("secret", "keygen")
    both = alice(
        "task", "create", "--env", "TOKEN=x", "--secret", "TOKEN", "--", "true", check=False
    )
    assert both.stderr.splitlines()[0] == "Error: 'TOKEN' is given both as --env and as --secret"
    assert "Traceback" not in "".join(alice.outputs)
    assert list(project.tasks_dir.glob("*/*")) == []
    assert_nowhere([VALUE], project, alice.outputs)


def test_a_task_run_with_another_users_key_fails_saying_whose_it_needs(
    alice: SecretCli, project: Root, tmp_path: Path
) -> None:
    alice.set_secret("TOKEN", VALUE)
    alice("secret", "keygen")
    made = alice(
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
    bob = SecretCli(project.project, tmp_path / "bob", "bob", tmp_path / "bob-keyring.json")
    bob("secret", "keygen")
    bob("task", "submit", task_id)
    waited = bob("task", "wait", task_id, "--timeout", "60", check=False)
    assert waited.code == 1
    info = json.loads(bob("task", "info", "--json", task_id).stdout)
    assert (info["status"], info["reason"]) == ("failure", "secrets")
    log = bob("task", "log", task_id).stdout
    assert log.splitlines() == [
        "hipercow: the task's secrets were sealed for alice's key, but the key at "
        f"{bob.home}/.hipercow/secret-key.json is bob's key",
        "hipercow: Run the task as alice, or recreate it with your own key.",
    ]
    assert not (project.project / "leaked.txt").exists()
    assert_nowhere([VALUE], project, alice.outputs + bob.outputs)


def test_a_private_key_others_can_read_is_refused_on_the_node(
    alice: SecretCli, project: Root
) -> None:
    alice.set_secret("TOKEN", VALUE)
    alice("secret", "keygen")
    key = alice.home / ".hipercow" / "secret-key.json"
    key.chmod(0o644)
    task_id = alice("task", "create", "--secret", "TOKEN", "--", "true").stdout.strip()
    assert alice("task", "wait", task_id, "--timeout", "60", check=False).code == 1
    log = alice("task", "log", task_id).stdout.splitlines()
    assert log[0] == f"hipercow: refusing the private key at {key}: others can read it (mode 644)"
    key.chmod(0o600)
    key.unlink()
    task_id = alice("task", "create", "--secret", "TOKEN", "--", "true").stdout.strip()
    assert alice("task", "wait", task_id, "--timeout", "60", check=False).code == 1
    assert alice("task", "log", task_id).stdout.splitlines() == [
        f"hipercow: there is no private key at {key}",
        "hipercow: Run 'hipercow secret keygen' to make one.",
    ]
    assert_nowhere([VALUE], project, alice.outputs)
