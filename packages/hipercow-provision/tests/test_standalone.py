"""The standalone `hipercow-provision`: real environments built with uv (and pip) from the index.

Each test starts in an empty directory with no hipercow root. Packages are
tiny and pinned (six, idna, iniconfig), and uv's own cache is shared, so a
build takes well under a second once the cache is warm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hipercow_provision.history import HistoryStore

SCRIPT = Path(sys.executable).parent / "hipercow-provision"
MISSING = "hipercow-no-such-package-4f1e"


def provision(
    cwd: Path, *args: str, check: bool = True, traceback: bool = False
) -> subprocess.CompletedProcess[str]:
    hidden = ("HIPERCOW_ROOT", "VIRTUAL_ENV", "HIPERCOW_TRACEBACK", "HIPERCOW_PROVISION_HISTORY")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    if traceback:
        env["HIPERCOW_TRACEBACK"] = "1"
    done = subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"hipercow-provision {args} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "empty"
    directory.mkdir()
    assert not any(p.name == "hipercow" for p in (directory, *directory.parents))
    return directory


def versions(cwd: Path, prefix: str) -> dict[str, str]:
    python = cwd / prefix / "bin" / "python"
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import json, importlib.metadata as m; "
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, str] = json.loads(out)
    return result


def test_history_of_real_uv_builds(empty_dir: Path) -> None:
    h = ("--history", "hist")
    first = provision(empty_dir, "run", "env", *h, "six==1.16.0")
    assert "Built" in first.stdout and "+ six==1.16.0" in first.stdout  # uv's output, live
    provision(empty_dir, "run", "env", *h, "six==1.16.0", "idna==3.7", "-q")
    provision(empty_dir, "run", "env", *h, "six==1.16.0", "idna==3.6", "-q")
    failed = provision(empty_dir, "run", "env", *h, MISSING, "-q", check=False)
    assert failed.returncode == 1
    assert "failure" in failed.stderr and MISSING in failed.stderr
    assert versions(empty_dir, "env") == {"six": "1.16.0", "idna": "3.6"}

    listed = json.loads(provision(empty_dir, "history", *h, "--json").stdout)
    assert [e["status"] for e in listed] == ["success", "success", "success", "failure"]
    assert [e["number"] for e in listed] == [1, 2, 3, 4]
    second = listed[1]
    assert {p["name"]: p["version"] for p in second["result"]["packages"]} == {
        "six": "1.16.0",
        "idna": "3.7",
    }
    assert all(p["source"] == "index" for p in second["result"]["packages"])
    assert second["result"]["commands"][-1][1:4] == ["pip", "install", "--python"]
    assert second["result"]["build"].endswith("-py{}.{}".format(*sys.version_info[:2]))
    assert second["attempt"]["inputs"] == {
        "kind": "packages",
        "packages": ["six==1.16.0", "idna==3.7"],
    }
    assert len(second["attempt"]["inputs_hash"]) == 64

    added = provision(empty_dir, "compare", *h, "1", "2").stdout
    assert "+ idna 3.7" in added and "1 added, 0 removed, 0 updated, 1 unchanged" in added
    updated = json.loads(provision(empty_dir, "compare", *h, "2", "3", "--json").stdout)
    assert [
        (c["name"], c["change"], c["old"]["version"], c["new"]["version"])
        for c in updated["changes"]
        if c["change"] != "unchanged"
    ] == [("idna", "updated", "3.7", "3.6")]
    assert "~ idna 3.7 -> 3.6" in provision(empty_dir, "compare", *h, "2", "3").stdout

    # the failed attempt is kept with its log, and the complete package list it left
    failure = listed[3]
    assert MISSING in failure["result"]["error"]
    assert {p["name"] for p in failure["result"]["packages"]} == {"six", "idna"}
    log = provision(empty_dir, "log", *h, "4").stdout
    assert MISSING in log and "not found" in log.lower()
    # default compare: the latest finished attempt against the one before it
    assert (
        "0 added, 0 removed, 0 updated, 2 unchanged" in provision(empty_dir, "compare", *h).stdout
    )

    text = provision(empty_dir, "history", *h).stdout
    assert text.splitlines()[0].split()[:3] == ["#", "attempt", "status"]
    assert len(text.splitlines()) == 5


def test_check_says_whether_inputs_changed(empty_dir: Path) -> None:
    h = ("--history", "hist")
    reqs = empty_dir / "requirements.txt"
    reqs.write_text("iniconfig==2.0.0\n")
    assert provision(empty_dir, "check", *h, check=False).returncode == 1  # nothing built yet
    provision(empty_dir, "run", "env", *h, "-q")  # requirements.txt by default
    same = provision(empty_dir, "check", *h)
    assert same.stdout.startswith("Unchanged")
    reqs.write_text("# pinned\niniconfig==2.0.0\n\n")
    assert provision(empty_dir, "check", *h).returncode == 0  # comments do not count
    reqs.write_text("iniconfig==2.0.0\nsix==1.16.0\n")
    changed = provision(empty_dir, "check", *h, "--json", check=False)
    assert changed.returncode == 1 and json.loads(changed.stdout)["changed"] is True
    provision(empty_dir, "run", "env", *h, "-q")  # the same file, read afresh
    assert versions(empty_dir, "env")["six"] == "1.16.0"
    assert provision(empty_dir, "check", *h).returncode == 0
    entries = json.loads(provision(empty_dir, "history", *h, "--json").stdout)
    assert entries[-1]["attempt"]["inputs"]["content"] == "iniconfig==2.0.0\nsix==1.16.0\n"
    assert (empty_dir / "hist" / entries[-1]["attempt"]["id"] / "requirements.txt").is_file()


def test_a_second_run_on_the_same_history_is_refused(empty_dir: Path) -> None:
    store = HistoryStore(empty_dir / "hist")
    with store.lock():
        busy = provision(empty_dir, "run", "env", "--history", "hist", "six==1.16.0", check=False)
    assert busy.returncode == 1
    assert "another provisioning is using the history" in busy.stderr
    assert not (empty_dir / "env").exists()


def test_fresh_rebuild_removes_what_is_no_longer_asked(empty_dir: Path) -> None:
    h = ("--history", "hist")
    provision(empty_dir, "run", "env", *h, "six==1.16.0", "idna==3.7", "-q")
    provision(empty_dir, "run", "env", *h, "idna==3.7", "--fresh", "-q")
    assert versions(empty_dir, "env") == {"idna": "3.7"}
    removed = json.loads(provision(empty_dir, "compare", *h, "--json").stdout)
    assert [(c["name"], c["change"]) for c in removed["changes"]] == [
        ("idna", "unchanged"),
        ("six", "removed"),
    ]
    (empty_dir / "notenv").mkdir()
    (empty_dir / "notenv" / "precious.txt").write_text("keep me")
    for fresh in ("--fresh", "-q"):
        refused = provision(
            empty_dir, "run", "notenv", "--history", "h2", "six", fresh, check=False
        )
        assert refused.returncode == 1 and "is not a uv environment" in refused.stderr
    assert os.listdir(empty_dir / "notenv") == ["precious.txt"]


@pytest.mark.slow
def test_pip_engine(empty_dir: Path) -> None:
    h = ("--history", "hist")
    provision(empty_dir, "run", "env", *h, "--engine", "pip", "six==1.16.0", "-q")
    found = versions(empty_dir, "env")
    assert found["six"] == "1.16.0" and "pip" in found
    entries = json.loads(provision(empty_dir, "history", *h, "--json").stdout)
    assert entries[0]["attempt"]["engine"] == "pip"
    assert entries[0]["result"]["commands"][0][1:3] == ["-m", "venv"]


def test_errors_read_as_hipercows_do(empty_dir: Path) -> None:
    """Two lines (what is wrong, what to do), exit 1; usage errors exit 2; a traceback on request."""
    missing = provision(empty_dir, "history", check=False)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.splitlines() == [
        "Error: no history directory given",
        "  Give --history DIR, or set $HIPERCOW_PROVISION_HISTORY.",
    ]
    provision(empty_dir, "run", "env", "--history", "hist", "six==1.16.0", "-q")
    unknown = provision(empty_dir, "log", "7", "--history", "hist", check=False)
    assert unknown.returncode == 1 and unknown.stdout == ""
    lines = unknown.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("  ")
    assert "Traceback" not in unknown.stderr
    shown = provision(empty_dir, "log", "7", "--history", "hist", check=False, traceback=True)
    assert shown.returncode == 1 and "Traceback (most recent call last)" in shown.stderr
    usage = provision(empty_dir, "history", "--hisotry", "hist", check=False)
    assert usage.returncode == 2 and "No such option" in usage.stderr
    assert "Traceback" not in usage.stderr


def test_json_verbose_and_help(empty_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--json is the history's records, -v logs the build's commands, help names every command."""
    empty = provision(empty_dir, "history", "--history", "none-yet", "--json")
    assert json.loads(empty.stdout) == []
    built = provision(empty_dir, "-v", "run", "env", "--history", "hist", "six==1.16.0", "--json")
    entry = json.loads(built.stdout)  # the build's own output goes nowhere near stdout
    assert entry["status"] == "success" and entry["number"] == 1
    assert "running" in built.stderr and "uv" in built.stderr  # the debug log of each command
    monkeypatch.setenv("HIPERCOW_PROVISION_HISTORY", str(empty_dir / "hist"))
    env_given = subprocess.run(
        [str(SCRIPT), "history", "--json"],
        cwd=empty_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert [e["number"] for e in json.loads(env_given.stdout)] == [1]
    helped = provision(empty_dir, "--help").stdout
    for command in ("run", "history", "compare", "check", "log"):
        assert command in helped
    assert "--json" in provision(empty_dir, "compare", "-h").stdout
    assert "--install-completion" in helped  # typer's completion, as for hipercow
    completing = {
        **{k: v for k, v in os.environ.items() if k != "HIPERCOW_PROVISION_HISTORY"},
        "_HIPERCOW_PROVISION_COMPLETE": "complete_bash",
        "COMP_WORDS": "hipercow-provision c",
        "COMP_CWORD": "1",
    }
    offered = subprocess.run(
        [str(SCRIPT)], cwd=empty_dir, env=completing, capture_output=True, text=True, check=True
    )
    assert offered.stdout.split() == ["compare", "check"]
