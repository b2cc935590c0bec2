"""Bad input over every command and option: a brief error, a non-zero exit, nothing written.

The cases are generated: each command with valid arguments, then one option
(or argument) at a time replaced by each bad value of its kind (empty, blank,
malformed, out of range, not UTF-8, path tricks). They run in this process
through typer's CliRunner, the way `hipercow` runs them (`main` reports
errors with `report`), against one root holding finished tasks, a bundle and
an environment, whose listing must be the same after every case. A handful
of cases whose bytes only a real command line can carry run as processes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipercow_cli_testing import in_process
from hipercow_core.bundles import save_bundle
from hipercow_core.environments import create_environment
from hipercow_core.root import Root
from hipercow_core.schema import FinishedMarker, TaskStatus
from hipercow_core.store import mark_finished
from hipercow_core.tasks import TaskSpec, create_tasks
from hipercow_testing import BIN, kill_processes_under

BAD_UTF8 = "caf\udce9"  # the byte 0xE9 as a command line delivers it on POSIX
GOOD_ID = "0123456789abcdef0123456789abcdef"

NAMES = ["", " ", "../up", "a/b", "-x", ".hidden", "x" * 300, BAD_UTF8, "a b", "a\tb"]
IDS = ["", " ", "../../etc", "0" * 31, "g" * 32, "0" * 33, BAD_UTF8, "/etc/passwd", "a/b"]
DURATIONS = ["", " ", "soon", "-1", "0", "1h99", "1:75", "99999999d", "1e9", "1.5h", BAD_UTF8]
HOLDS = ["", " ", "soon", "-1", "99999999d", "1h99", "2001-01-01", "9999-12-31", BAD_UTF8]
CORES = ["", " ", "0", "-1", "1.5", "nan", "9" * 30, BAD_UTF8, "\u0663", "two"]
MEMORY = ["", " ", "0", "-1G", "4X", "1" * 400, "9" * 30 + "T", BAD_UTF8, "G", "nan"]
PRIORITIES = ["", " ", "urgent", "LOW!", BAD_UTF8]
QUEUES = ["", " ", "nosuchqueue", BAD_UTF8]
NODES = ["", " ", ",", "a,,b", "nosuchnode", BAD_UTF8]
TIMEOUTS = ["-1", "nan", "inf", "-inf", "", "x", "1e999"]
STATUSES = ["", " ", ",", "finished", "a,,b", BAD_UTF8, "success,"]
SINCE = ["", " ", "yesterday-ish", "99999999999d", "1h99", BAD_UTF8, "2026-13-45"]
ENVS = ["", "NOEQUALS", "=x", "1BAD=x", "A B=x", f"{BAD_UTF8}=1", "A=1 --env A=2"]
DATA = [
    "",
    "x=",
    "x=,,,",
    "x=a,,b",
    "x=1..1e9",
    "x=a..b",
    "x=1..2,3",
    "x=1..99999999999",
    "=1,2",
    "nosuchfile.csv",
    "1x=1,2",
    "binary.csv",
    "empty.csv",
    "ragged.csv",
]
SIZES = ["", "x", "-1", "10Q", BAD_UTF8]
DRIVERS = ["", " ", "nosuchdriver", BAD_UTF8, "../local"]

# Resource options every creating command takes, with the bad values of each kind.
RESOURCE_OPTIONS = {
    "--cores": CORES,
    "--max-runtime": DURATIONS,
    "--hold-until": HOLDS,
    "--memory-per-node": MEMORY,
    "--memory-per-task": MEMORY,
    "--node": NODES,
    "--priority": PRIORITIES,
    "--queue": QUEUES,
}


def _with(base: list[str], option: str, values: list[str]) -> Iterator[list[str]]:
    """`base` with `option VALUE` inserted before any '--', for each bad value."""
    cut = base.index("--") if "--" in base else len(base)
    for value in values:
        if option.startswith("--env") and " --env " in value:
            first, second = value.split(" --env ")
            yield [*base[:cut], option, first, option, second, *base[cut:]]
        else:
            yield [*base[:cut], option, value, *base[cut:]]


def _creating_cases() -> Iterator[list[str]]:
    """Commands that create tasks, with every resource and task option."""
    creating = {
        "task create": ["task", "create", "--", "true"],
        "task call": ["task", "call", "os:getcwd"],
        "bulk create": ["bulk", "create", "--data", "n=1..2", "--", "echo", "@n"],
        "bulk call": ["bulk", "call", "os:getenv", "--data", "key=A,B"],
    }
    for base in creating.values():
        for option, values in RESOURCE_OPTIONS.items():
            yield from _with(base, option, values)
        yield from _with(base, "--env", ENVS)
        yield from _with(base, "--environment", [*NAMES, "nosuchenv"])
        yield from _with(base, "--depends-on", [*IDS, GOOD_ID])
        yield from _with(base, "--driver", DRIVERS)
        yield from _with(base, "--max-log-size", [*SIZES, "10", "0"])
    retry = ["task", "retry", "@success"]
    for option, values in RESOURCE_OPTIONS.items():
        yield from _with(retry, option, values)
    yield from _with(["task", "create", "--wait", "--", "true"], "--timeout", TIMEOUTS)
    yield from _with(["task", "create", "--", BAD_UTF8], "--python", ["", " ", "1 +", "def"])
    yield from _with(["task", "create"], "--script", ["", "nosuch.py", "/etc/passwd", "."])
    yield ["task", "create"]
    yield ["task", "create", "--python", "1", "--script", "x.py"]
    yield ["task", "create", "--python", "1", "--", "true"]
    yield ["task", "create", "--env", f"A={BAD_UTF8}", "--", "true"]
    yield ["task", "create", "--", BAD_UTF8]
    yield ["task", "create", "--", "echo", BAD_UTF8]
    yield ["task", "create", "--python", f"'{BAD_UTF8}'"]


def _call_cases() -> Iterator[list[str]]:
    """Calls."""
    for target in ["", "os", ":f", "os:", "nosuchmodule:f", "os:nosuchfunction", "os:sep", "a b:c"]:
        yield ["task", "call", target]
        yield ["bulk", "call", target, "--data", "x=1,2"]
    yield from _with(
        ["task", "call", "os:getenv"], "--kwarg", ["1x=2", "=2", "noequals", "class=1", "a-b=1"]
    )
    yield ["task", "call", "os:getenv", "--kwarg", "key=1", "--kwarg", "key=2"]
    yield from _with(
        ["task", "call", "os:getenv"], "--args-json", ["", "[", "1", '"s"', "null", "{1:2}"]
    )
    yield ["task", "call", "os:getenv", "A", "--args-json", '["B"]']
    yield ["task", "call", "os:getenv", "--kwarg", "key=A", "--args-json", '{"key": "B"}']
    yield from _with(["task", "call", "os:getenv", "A"], "--max-args-size", [*SIZES, "1"])
    yield from _with(["task", "call", "os:getenv"], "--timeout", TIMEOUTS)


def _one_task_cases() -> Iterator[list[str]]:
    """One task."""
    for command in ["status", "info", "log", "result", "wait", "cancel", "retry", "submit"]:
        for bad in IDS:
            yield ["task", command, bad]
    for command in ["info", "log", "result", "wait", "cancel", "retry"]:
        yield ["task", command, GOOD_ID]
    yield ["task", "retry", "@created"]
    yield ["task", "wait", "@created"]
    yield ["task", "result", "@shell"]
    yield from _with(["task", "wait", "@success"], "--timeout", TIMEOUTS)
    yield from _with(["task", "result", "@success"], "--output", ["", "/", "/nonexistent/dir/f"])
    yield from _with(["task", "submit"], "--driver", DRIVERS)
    yield ["task", "status"]
    yield ["task", "frobnicate"]


def _listing_cases() -> Iterator[list[str]]:
    """Listing."""
    yield from _with(["task", "list"], "--status", STATUSES)
    yield from _with(["task", "list"], "--since", SINCE)
    yield from _with(["purge"], "--status", [*STATUSES, "running", "created", "submitted"])
    yield from _with(["purge"], "--older-than", SINCE)
    yield from _with(["purge"], "--bundle", [*NAMES, "nosuchbundle"])
    yield from _with(["purge", "--dry-run"], "--bundle", ["", "nosuchbundle"])


def _bulk_cases() -> Iterator[list[str]]:
    """Bulk."""
    for base in (["bulk", "create", "--", "echo", "@x"], ["bulk", "call", "os:getenv"]):
        yield from _with(base, "--data", DATA)
        yield base
        yield from _with([*base[:2], "--data", "x=1,2", *base[2:]], "--name", [*NAMES, "b1"])
        yield from _with(
            [*base[:2], "--data", "x=1,2", *base[2:]], "--max-tasks", ["0", "-1", "x", ""]
        )
    yield ["bulk", "create", "--data", "x=1,2", "--data", "x=3", "--", "echo", "@x"]
    yield ["bulk", "create", "--data", "x=1,2", "--data", "y=3", "--zip", "--", "echo", "@x", "@y"]
    yield ["bulk", "create", "--data", "x=1,2", "--", "echo", "@y"]
    yield ["bulk", "create", "--data", "x=1,2", "--data", "y=1,2", "--", "echo", "@x"]
    yield ["bulk", "create", "--data", "x=1..2000", "--data", "y=1..2000", "--", "e", "@x", "@y"]
    yield ["bulk", "create", "--max-tasks", "1", "--data", "x=1,2", "--", "echo", "@x"]


def _bundle_cases() -> Iterator[list[str]]:
    """Bundles."""
    for command in ["status", "wait", "retry", "cancel", "log", "result", "delete"]:
        for bad in [*NAMES, "nosuchbundle"]:
            yield ["bundle", command, bad]
    yield from _with(["bundle", "status", "b1"], "--summary", ["", "worse", BAD_UTF8])
    yield from _with(["bundle", "wait", "b1"], "--timeout", TIMEOUTS)
    yield from _with(["bundle", "retry", "b1"], "--status", [*STATUSES, "running", "created"])
    yield from _with(["bundle", "retry", "b1"], "--driver", DRIVERS)


def _driver_cases() -> Iterator[list[str]]:
    """Drivers and the cluster."""
    for bad in DRIVERS:
        yield ["driver", "configure", bad]
        yield ["driver", "show", bad]
        yield ["cluster", "info", "--driver", bad]
    for option in [
        "max_cores=-1",
        "max_cores=0",
        "max_cores=lots",
        "max_cores=1.5",
        "max_cores=" + "9" * 30,
        "max_cores=99999999",
        "nosuchoption=1",
        "noequals",
        "=1",
        f"max_cores={BAD_UTF8}",
    ]:
        yield ["driver", "configure", "local", option]
    yield ["driver", "configure", "local", "max_cores=1", "max_cores=2"]


def _environment_cases() -> Iterator[list[str]]:
    """Environments."""
    for command in ["new", "show", "delete", "provision", "history", "check", "log"]:
        for bad in NAMES if command == "new" else [*NAMES, "nosuchenv"]:
            yield ["environment", command, bad]
    yield from _with(["environment", "new", "fresh"], "--engine", ["", "nosuchengine", BAD_UTF8])
    yield ["environment", "new", "env1"]
    yield ["environment", "delete", "empty"]
    yield ["environment", "compare", "env1", "nosuchattempt"]
    yield ["environment", "log", "env1", "nosuchattempt"]
    yield from _with(
        ["environment", "provision", "env1", "--detach"], "--requirements", ["", "nosuch.txt", "."]
    )


def _init_cases() -> Iterator[list[str]]:
    """Init."""
    yield ["init", "afile"]
    yield ["init", "afile/below"]
    yield ["init", "/proc/hipercow-cannot-be-here"]


CASES = [
    case
    for cases in (
        _creating_cases,
        _call_cases,
        _one_task_cases,
        _listing_cases,
        _bulk_cases,
        _bundle_cases,
        _driver_cases,
        _environment_cases,
        _init_cases,
    )
    for case in cases()
]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A root with tasks of several statuses, a bundle and an environment; the cwd is the project."""
    directory = tmp_path_factory.mktemp("suite") / "project"
    directory.mkdir()
    root, _ = Root.init(directory)
    (directory / "afile").write_text("not a directory\n")
    (directory / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (directory / "empty.csv").write_text("")
    (directory / "ragged.csv").write_text("x,y\n1,2\n3\n")
    (directory / "x.py").write_text("print('x')\n")
    previous = Path.cwd()
    os.chdir(directory)
    saved = {k: os.environ.pop(k, None) for k in ("HIPERCOW_ROOT", "HIPERCOW_TRACEBACK")}
    specs = [TaskSpec(command=("true",)), TaskSpec(command=("false",)), TaskSpec(command=("x",))]
    success, failure, created = create_tasks(root, specs, submit=False, cwd=directory)
    python = create_tasks(root, [TaskSpec(command=("1",), kind="python")], submit=False)[0]
    now = datetime.now(UTC)
    mark_finished(root, success, FinishedMarker(TaskStatus.SUCCESS, now, exit_code=0))
    mark_finished(root, failure, FinishedMarker(TaskStatus.FAILURE, now, exit_code=1))
    mark_finished(root, python, FinishedMarker(TaskStatus.SUCCESS, now, exit_code=0))
    save_bundle(root, [success, failure], "b1")
    create_environment(root, "env1", engine="empty")
    yield {"success": success, "failure": failure, "created": created, "shell": success}
    os.chdir(previous)
    for key, value in saved.items():
        if value is not None:
            os.environ[key] = value
    kill_processes_under(directory)


def listing(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under the root with its size and modification time."""
    found = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        found[str(path.relative_to(directory))] = (info.st_size, info.st_mtime_ns)
    return found


_run = in_process(terminal=False)


def run_in_process(args: list[str]) -> tuple[int, str, str]:
    """`hipercow ARGS` through its own entry point (`main`), in this process."""
    result = _run(*args)
    return result.code, result.stdout, result.stderr


def assert_brief_error(code: int, stdout: str, stderr: str) -> None:
    text = stdout + stderr
    assert code != 0, text
    assert "Traceback" not in text, text
    assert "This is a bug" not in text, text
    if code == 2:  # a usage error, in typer's own box
        return
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, text
    assert lines[0].startswith("Error:"), text


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c)[:80] for c in CASES])
def test_bad_input(state: dict[str, str], args: list[str]) -> None:
    args = [state[a[1:]] if a[:1] == "@" and a[1:] in state else a for a in args]
    root = Root.find()
    before = listing(root.path)
    code, stdout, stderr = run_in_process(args)
    assert_brief_error(code, stdout, stderr)
    assert listing(root.path) == before


def test_the_suite_is_large() -> None:
    assert len(CASES) >= 500


@pytest.mark.parametrize(
    "args",
    [
        [b"task", b"create", b"--", b"caf\xe9"],
        [b"task", b"create", b"--env", b"A=caf\xe9", b"--", b"true"],
        [b"task", b"create", b"--python", b"'caf\xe9'"],
        [b"task", b"call", b"os:getenv", b"caf\xe9"],
        [b"bulk", b"create", b"--data", b"x=caf\xe9", b"--", b"echo", b"@x"],
        [b"task", b"status", b"caf\xe9"],
        [b"bundle", b"status", b"caf\xe9"],
        [b"driver", b"configure", b"local", b"max_cores=caf\xe9"],
    ],
)
def test_bytes_that_are_not_utf8_on_a_real_command_line(tmp_path: Path, args: list[bytes]) -> None:
    root, _ = Root.init(tmp_path)
    before = listing(root.path)
    env = {k: v for k, v in os.environ.items() if k not in ("HIPERCOW_ROOT", "HIPERCOW_TRACEBACK")}
    done = subprocess.run(
        [os.fsencode(BIN / "hipercow"), *args],
        cwd=tmp_path,
        env={**env, "NO_COLOR": "1"},
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert_brief_error(
        done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    )
    assert listing(root.path) == before
    kill_processes_under(tmp_path)
