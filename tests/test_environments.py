"""Environments end to end through `hipercow`, on the local driver, with real uv builds.

Provisioning runs as a hipercow task in the background, as it would on a
cluster. Packages are tiny and pinned (six, idna, iniconfig); the one that
must build slowly, so that a second provisioning can be tried while the first
runs, is `gatepkg`: a local project whose own build backend waits until the
test creates a file, so the test decides when the build ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hipercow_core.root import Root
from hipercow_testing import BIN, Cli, wait_until

MISSING = "hipercow-no-such-package-4f1e"

_GATE_BACKEND = """
import base64, hashlib, os, pathlib, time, zipfile

HERE = pathlib.Path(__file__).parent
NAME, VERSION = "gatepkg", "0.1"


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    (HERE / "started").write_text(str(os.getpid()))
    deadline = time.time() + 120
    while not (HERE / "release").exists() and time.time() < deadline:
        time.sleep(0.1)
    info = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{NAME}.py": b"VALUE = 42\\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: gate\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for name, data in files.items()
    ]
    wheel = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", "\\n".join([*record, f"{info}/RECORD,,"]) + "\\n")
    return wheel
"""


def gate_package(directory: Path) -> Path:
    """A package whose build blocks until `directory/release` exists; `started` says it began."""
    directory.mkdir()
    (directory / "gate_backend.py").write_text(_GATE_BACKEND)
    (directory / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = []
            build-backend = "gate_backend"
            backend-path = ["."]

            [project]
            name = "gatepkg"
            version = "0.1"
            """
        )
    )
    return directory


def history(cli: Cli, name: str) -> list[dict[str, object]]:
    result: list[dict[str, object]] = json.loads(
        cli("environment", "history", name, "--json").stdout
    )
    return result


def packages_of(entry: dict[str, object]) -> dict[str, str]:
    result = entry["result"]
    assert isinstance(result, dict)
    return {p["name"]: p["version"] for p in result.get("packages", [])}


def test_environment_records(cli: Cli, project: Root) -> None:
    assert "empty" in cli("environment", "list").stdout
    cli("environment", "new", "analysis")
    cli("environment", "new", "plain", "--engine", "pip", "--python", "3.11")
    listed = json.loads(cli("environment", "list", "--json").stdout)
    assert [(e["name"], e["engine"]) for e in listed] == [
        ("empty", "empty"),
        ("analysis", "uv"),
        ("plain", "pip"),
    ]
    again = cli("environment", "new", "analysis", check=False)
    assert again.code == 1 and "already exists" in again.stderr
    bad = cli("environment", "new", "x", "--engine", "spack", check=False)
    assert bad.code == 1 and "unknown environment engine 'spack'" in bad.stderr
    assert cli("environment", "new", "../up", check=False).code == 1
    shown = json.loads(cli("environment", "show", "plain", "--json").stdout)
    assert shown["environment"]["python"] == "3.11" and shown["attempts"] == 0

    # delete needs a name: never all of them
    nameless = cli("environment", "delete", check=False)
    assert nameless.code == 2 and "Missing argument 'NAME'" in nameless.stderr
    cli("environment", "delete", "plain")
    assert [e["name"] for e in json.loads(cli("environment", "list", "--json").stdout)] == [
        "empty",
        "analysis",
    ]
    assert cli("environment", "delete", "empty", check=False).code == 1
    missing = cli("environment", "show", "plain", check=False)
    assert missing.code == 1 and "does not exist" in missing.stderr
    nothing = cli("environment", "provision", "empty", "six", check=False)
    assert nothing.code == 1 and "nothing to provision" in nothing.stderr


def test_tasks_need_an_existing_environment(cli: Cli, project: Root) -> None:
    unknown = cli("task", "create", "--environment", "nope", "--", "true", check=False)
    assert unknown.code == 1 and "environment 'nope' does not exist" in unknown.stderr
    assert "hipercow environment new nope" in unknown.stderr
    # an environment that was never provisioned: the task fails saying what to do
    cli("environment", "new", "bare")
    task_id = cli("task", "create", "--environment", "bare", "--", "true").stdout.strip()
    assert cli("task", "wait", task_id, "--timeout", "60", check=False).code == 1
    log = cli("task", "log", task_id).stdout
    assert "environment 'bare' has no successful build" in log
    assert "hipercow environment provision bare" in log
    # `empty` always exists and is hipercow's own Python
    code = "import sys; sys.executable"
    task_id = cli("task", "create", "--environment", "empty", "--python", code, "--wait").stdout
    assert json.loads(cli("task", "result", task_id.strip(), "--json").stdout) == sys.executable


def test_provision_history_compare_and_tasks(cli: Cli, project: Root) -> None:
    cli("environment", "new", "default")
    first = cli("environment", "provision", "default", "six==1.16.0")
    assert "+ six==1.16.0" in first.stdout  # the build's log, live
    assert "Provisioned 'default'" in first.stdout
    cli("environment", "provision", "default", "six==1.16.0", "idna==3.7")
    added = json.loads(cli("environment", "compare", "default", "--json").stdout)
    assert [(c["name"], c["change"]) for c in added["changes"]] == [
        ("idna", "added"),
        ("six", "unchanged"),
    ]
    shown = cli("environment", "compare", "default").stdout
    assert "idna" in shown and "added" in shown and "six" not in shown  # unchanged hidden
    assert "six" in cli("environment", "compare", "default", "--all").stdout

    cli("environment", "provision", "default", "six==1.16.0", "idna==3.6")
    updated = json.loads(cli("environment", "compare", "default", "--json").stdout)
    [change] = [c for c in updated["changes"] if c["change"] != "unchanged"]
    assert (change["name"], change["change"]) == ("idna", "updated")
    assert (change["old"]["version"], change["new"]["version"]) == ("3.7", "3.6")
    assert "3.7" in cli("environment", "compare", "default", "2", "3").stdout

    failed = cli("environment", "provision", "default", MISSING, check=False)
    assert failed.code == 1
    assert "provisioning 'default' failed (attempt 4" in failed.stderr
    assert MISSING in failed.stderr  # the reason, in one line
    entries = history(cli, "default")
    assert [e["status"] for e in entries] == ["success", "success", "success", "failure"]
    assert packages_of(entries[1]) == {"six": "1.16.0", "idna": "3.7"}
    assert packages_of(entries[3]) == {"six": "1.16.0", "idna": "3.6"}  # what it left
    assert MISSING in cli("environment", "log", "default", "4").stdout
    table = cli("environment", "history", "default").stdout
    assert "failure" in table and "idna==3.6" in table

    # tasks use `default` unless told otherwise: its interpreter, PATH and VIRTUAL_ENV
    code = "import idna, sys, os; (idna.__version__, sys.prefix, os.environ['VIRTUAL_ENV'])"
    task_id = cli("task", "create", "--python", code, "--wait").stdout.strip()
    version, prefix, venv = json.loads(cli("task", "result", task_id, "--json").stdout)
    assert version == "3.6" and prefix == venv
    assert Path(prefix).is_relative_to(project.path / "environments" / "default" / "builds")
    shell = cli(
        "task", "create", "--wait", "--", "python", "-c", "import six; print(six.__version__)"
    )
    assert cli("task", "log", shell.stdout.strip()).stdout.strip() == "1.16.0"
    info = json.loads(cli("task", "info", task_id, "--json").stdout)
    assert info["data"]["environment"] == "default"
    # ...and hipercow's own Python, which lacks idna's pinned version, in `empty`
    other = cli(
        "task", "create", "--environment", "empty", "--python", "import six", "--wait", check=False
    )
    assert other.code == 1

    # check: same inputs as the last success?
    assert cli("environment", "check", "default", "six==1.16.0", "idna==3.6").code == 0
    changed = cli("environment", "check", "default", "six==1.16.0", check=False)
    assert changed.code == 1 and changed.stdout.startswith("Changed")


def test_requirements_file_and_check(cli: Cli, project: Root) -> None:
    cli("environment", "new", "reqs")
    reqs = project.project / "requirements.txt"
    reqs.write_text("iniconfig==2.0.0\n")
    cli("environment", "provision", "reqs")  # the project's requirements.txt by default
    assert cli("environment", "check", "reqs").code == 0
    reqs.write_text("iniconfig==2.0.0\nsix==1.16.0\n")
    outcome = cli("environment", "check", "reqs", "--json", check=False)
    assert outcome.code == 1 and json.loads(outcome.stdout)["changed"] is True
    cli("environment", "provision", "reqs", "--json")
    assert cli("environment", "check", "reqs").code == 0
    last = history(cli, "reqs")[-1]
    attempt = last["attempt"]
    assert isinstance(attempt, dict)
    assert attempt["inputs"] == {
        "kind": "requirements",
        "file": "requirements.txt",
        "content": "iniconfig==2.0.0\nsix==1.16.0\n",
    }
    assert packages_of(last) == {"iniconfig": "2.0.0", "six": "1.16.0"}


def test_one_provisioning_at_a_time_and_cancel_counts_as_failure(
    cli: Cli, project: Root, tmp_path: Path
) -> None:
    cli("environment", "new", "slow")
    cli("environment", "provision", "slow", "six==1.16.0")
    gate = gate_package(project.project / "gate")
    watcher = subprocess.Popen(
        [str(BIN / "hipercow"), "environment", "provision", "slow", "./gate"],
        cwd=project.project,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until((gate / "started").exists, timeout=120)
        # a task using the environment, queued or running: provisioning warns
        busy = cli("task", "create", "--environment", "slow", "--", "sleep", "30").stdout.strip()
        second = cli("environment", "provision", "slow", "idna==3.7", check=False)
        assert second.code == 1
        assert "environment 'slow' is already being provisioned" in second.stderr
        assert "hipercow task cancel" in second.stderr
        assert cli("environment", "delete", "slow", check=False).code == 1

        # cancel the running provisioning: its watcher fails, its attempt says cancelled
        running = [e for e in history(cli, "slow") if e["status"] == "running"]
        assert len(running) == 1
        attempt = running[0]["attempt"]
        assert isinstance(attempt, dict)
        cli("task", "cancel", attempt["task_id"])
        _, err = watcher.communicate(timeout=60)
        assert watcher.returncode == 1
        assert "provisioning 'slow' was cancelled" in err
    finally:
        if watcher.poll() is None:
            watcher.kill()
        (gate / "release").write_text("")
    entries = history(cli, "slow")
    assert [e["status"] for e in entries] == ["success", "cancelled"]
    cancelled = entries[1]["result"]
    assert isinstance(cancelled, dict) and "cancelled" in cancelled["error"]
    # the job records what it left when it has time to before being killed
    assert packages_of(entries[1]) in ({"six": "1.16.0"}, {})

    # the claim is gone: a new attempt runs, warning about the task using it
    third = cli("environment", "provision", "slow", "idna==3.7")
    assert "task(s) using 'slow' are queued or running" in third.stderr
    assert "--wait-for-tasks" in third.stderr
    cli("task", "cancel", busy)
    quiet = cli("environment", "provision", "slow", "iniconfig==2.0.0", "--wait-for-tasks")
    assert "queued or running" not in quiet.stderr
    assert [e["status"] for e in history(cli, "slow")][-2:] == ["success", "success"]


def test_provisioning_jobs_are_kept_apart_from_users_tasks(cli: Cli, project: Root) -> None:
    cli("environment", "new", "default")
    cli("environment", "provision", "default", "six==1.16.0")
    assert cli("environment", "provision", "default", MISSING, check=False).code == 1
    jobs = {e["attempt"]["task_id"] for e in history(cli, "default")}  # type: ignore[index]
    mine = cli("task", "create", "--environment", "empty", "--wait", "--", "false", check=False)
    my_task = mine.stdout.strip().splitlines()[0]

    # task list is about the user's tasks; --all shows the provisioning jobs, marked
    listed = json.loads(cli("task", "list", "--json").stdout)
    assert [t["id"] for t in listed] == [my_task]
    failed = json.loads(cli("task", "list", "--status", "failure", "--json").stdout)
    assert [t["id"] for t in failed] == [my_task]
    everything = json.loads(cli("task", "list", "--all", "--json").stdout)
    assert {t["id"] for t in everything if t["provisioning"]} == jobs
    assert cli("task", "list", "--all").stdout.count("(environment provisioning)") == 2

    # a purge of tasks leaves every attempt's record
    cli("purge", "--status", "failure")
    after = {t["id"] for t in json.loads(cli("task", "list", "--all", "--json").stdout)}
    assert after == jobs  # the user's failure went; the failed attempt's job stayed
    cli("purge")
    remaining = {t["id"] for t in json.loads(cli("task", "list", "--all", "--json").stdout)}
    assert remaining == jobs
    assert [e["status"] for e in history(cli, "default")] == ["success", "failure"]


def test_a_failed_attempt_is_told_once_and_as_a_failure(cli: Cli, project: Root) -> None:
    cli("environment", "new", "default")
    first = cli("environment", "provision", "default", "six==1.16.0")
    assert "Activate with" not in first.stdout  # uv's advice does not apply here
    assert "Activate with" not in cli("environment", "log", "default", "1").stdout
    failed = cli("environment", "provision", "default", MISSING, check=False)
    assert failed.code == 1
    resolver = "No solution found when resolving"
    # uv's own words in the log, and the reason once in the one-line error
    assert cli("environment", "log", "default", "2").stdout.count(resolver) == 1
    assert failed.stdout.count(resolver) == 1 and failed.stderr.count(resolver) == 1

    compared = cli("environment", "compare", "default").stdout
    assert compared.startswith("Attempt 1 (") and ", failure)" in compared.splitlines()[0]
    assert "Attempt 2 failure: its packages are what it left" in compared
    rows = [line.split() for line in cli("environment", "history", "default").stdout.splitlines()]
    assert rows[0][6] == "packages"
    assert (rows[1][2], rows[1][7]) == ("success", "1")
    assert (rows[2][2], rows[2][7]) == ("failure", "-")
    helped = cli("environment", "compare", "--help").stdout
    assert "Older attempt" in helped and "Newer attempt" in helped


def test_a_task_in_an_environment_without_a_build_warns_at_creation(
    cli: Cli, project: Root
) -> None:
    cli("environment", "new", "bare")
    made = cli("task", "create", "--environment", "bare", "--", "true")
    assert "environment 'bare' has no build for" in made.stderr
    assert "hipercow environment provision bare" in made.stderr
    assert len(made.stderr.splitlines()) == 1
    # `empty` is always there to run in: no warning
    assert cli("task", "create", "--environment", "empty", "--", "true").stderr == ""


@pytest.mark.parametrize("name", ["nul", "Aux", "com3", "prn.old", "build."])
def test_names_windows_reserves_are_refused(cli: Cli, project: Root, name: str) -> None:
    """A share reached from Windows could not hold the environment's directory."""
    result = cli("environment", "new", name, check=False)
    assert result.code == 1
    assert f"'{name}' cannot be an environment name: Windows" in result.stderr
    assert "Traceback" not in result.output
    assert not (project.path / "environments" / name).exists()


def test_an_environment_too_deep_for_windows_is_warned_about(
    cli: Cli, project: Root, tmp_path: Path
) -> None:
    """Past 260 characters pip fails on Windows half way; the user hears of it at creation."""
    shallow = cli("environment", "new", "short")
    assert "path limit" not in shallow.output
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 6)
    deep.mkdir(parents=True)
    cli("init", cwd=deep)
    created = cli("environment", "new", "deep", cwd=deep)
    assert "260-character path limit" in created.stderr
    assert "Traceback" not in created.output
