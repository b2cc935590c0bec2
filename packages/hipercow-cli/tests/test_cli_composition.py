"""How `hipercow` is put together: its own commands, and those other packages add.

The `environment` commands come from hipercow-provision through the
`hipercow.cli` entry point; without that package installed, `hipercow`
still works and simply has no `environment` command. That case is checked
in a real second environment holding only hipercow-core and hipercow-cli,
installed by uv from the workspace's lock file (offline, from uv's cache).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hipercow_cli_testing import Run, in_process
from hipercow_testing import kill_processes_under

DISTRIBUTIONS = (
    "import json, importlib.metadata as m; "
    "print(json.dumps(sorted(d.metadata['Name'] for d in m.distributions())))"
)
REPO = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def commands_listed(help_text: str) -> list[str]:
    """The command names of a rich help screen, in the order shown."""
    body = ANSI.sub("", help_text).split("Commands")[1]
    return re.findall(r"^│ (\S+) ", body, re.MULTILINE)


def test_help_lists_every_command_in_a_fixed_order_plugins_included() -> None:
    done = in_process(terminal=False)("--help")
    assert done.code == 0
    assert commands_listed(done.stdout) == [
        "init",
        "driver",
        "cluster",
        "task",
        "environment",
        "bulk",
        "bundle",
        "secret",
        "purge",
        "hello",
        "configuration",
        "windows-hpc",
        "worker",
    ]


def test_a_plugin_command_runs_and_shows_its_tables(terminal: Run, piped: Run) -> None:
    assert "provision" in terminal("environment", "--help").stdout
    assert terminal("environment", "new", "analysis", "--engine", "empty").code == 0
    at_terminal = terminal("environment", "list")
    assert at_terminal.code == 0
    assert re.search(r"^analysis\s+empty\s+-\s+-\s*$", at_terminal.stdout, re.MULTILINE)
    lines = piped("environment", "list").stdout.splitlines()
    assert lines[0].split() == ["name", "engine", "python", "builds"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["analysis", "empty"]


def test_an_unknown_command_is_a_usage_error(piped: Run) -> None:
    done = piped("frobnicate")
    assert done.code == 2
    assert "No such command 'frobnicate'" in done.stderr


def _cli_imports(source: Path) -> set[str]:
    tree = ast.parse(source.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hipercow_cli"):
            found.add(node.module or "")
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("hipercow_cli"))
    return found


@pytest.mark.parametrize("package", ["hipercow-provision", "hipercow-windows-hpc"])
def test_plugins_use_only_the_plugin_module_of_the_cli(package: str) -> None:
    sources = sorted((REPO / "packages" / package / "src").rglob("*.py"))
    used = set().union(*(_cli_imports(p) for p in sources))
    assert used, f"{package} adds commands, so it should use hipercow_cli.plugin"
    assert used <= {
        "hipercow_cli",
        "hipercow_cli.plugin",
        "hipercow_cli.plugin.Driver",
        "hipercow_cli.plugin.Json",
    }, used


@pytest.fixture(scope="module")
def cli_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with hipercow-core and hipercow-cli and nothing else of ours."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build the second environment (the workspace is managed by uv)"
    venv = tmp_path_factory.mktemp("cli-only") / "venv"
    subprocess.run(
        [uv, "sync", "--package", "hipercow-cli", "--frozen", "--offline", "--no-dev", "--quiet"],
        cwd=REPO,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)},
        check=True,
        timeout=300,
    )
    return venv / "bin" / "hipercow"


def test_hipercow_works_without_the_provision_package(cli_only: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "HIPERCOW_ROOT")}
    env["NO_COLOR"] = "1"

    def hipercow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(cli_only), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    python = cli_only.parent / "python"
    listed = subprocess.run(
        [str(python), "-c", DISTRIBUTIONS], capture_output=True, text=True, check=True
    )
    ours = [name for name in json.loads(listed.stdout) if name.startswith("hipercow")]
    assert ours == ["hipercow-cli", "hipercow-core"]
    shown = hipercow("--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr == ""
    assert commands_listed(shown.stdout) == [
        "init",
        "driver",
        "cluster",
        "task",
        "bulk",
        "bundle",
        "secret",
        "purge",
        "hello",
        "configuration",
    ]
    assert hipercow("init").returncode == 0
    try:
        made = hipercow("task", "create", "--", "echo", "hi")
        assert made.returncode == 0, made.stderr
        assert hipercow("task", "wait", made.stdout.strip()).returncode == 0
    finally:
        kill_processes_under(tmp_path)
    missing = hipercow("environment", "list")
    assert missing.returncode == 2
    assert "No such command 'environment'" in missing.stderr


EXTRA_PLUGIN = '''
import typer

from hipercow_cli import plugin

app = typer.Typer(help="An extra plugin, installed beside hipercow.", no_args_is_help=True)


@app.command("hello")
def hello(as_json: plugin.Json = False) -> None:
    """Say hello."""
    plugin.emit_json({"hello": "world"}) if as_json else plugin.success("hello from a plugin")
'''


@pytest.fixture
def installed_plugins(tmp_path: Path) -> dict[str, str]:
    """A directory on PYTHONPATH holding two installed distributions adding commands.

    `hipercow_extra` adds a working `extra` command; `other_broken` names a
    module that does not exist, as a half-removed package would.
    """
    site = tmp_path / "site"
    (site / "hipercow_extra").mkdir(parents=True)
    (site / "hipercow_extra" / "__init__.py").write_text(EXTRA_PLUGIN)
    for dist, entry in (
        ("hipercow_extra", "extra = hipercow_extra:app"),
        ("other_broken", "broken = other_broken_commands:app"),
    ):
        info = site / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[hipercow.cli]\n{entry}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HIPERCOW_ROOT", "FORCE_COLOR")}
    return {**env, "PYTHONPATH": str(site), "NO_COLOR": "1"}


def hipercow(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "hipercow"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_another_package_adds_a_command_listed_after_ours(
    installed_plugins: dict[str, str], tmp_path: Path
) -> None:
    shown = hipercow(installed_plugins, tmp_path, "--help")
    assert shown.returncode == 0
    assert commands_listed(shown.stdout)[-4:] == ["configuration", "extra", "windows-hpc", "worker"]
    done = hipercow(installed_plugins, tmp_path, "extra", "hello")
    assert (done.returncode, done.stdout, done.stderr) == (0, "✔ hello from a plugin\n", "")
    assert json.loads(hipercow(installed_plugins, tmp_path, "extra", "hello", "--json").stdout) == {
        "hello": "world"
    }


def test_a_plugin_that_cannot_load_is_one_warning_line(
    installed_plugins: dict[str, str], tmp_path: Path
) -> None:
    shown = hipercow(installed_plugins, tmp_path, "--help")
    assert shown.returncode == 0
    assert shown.stderr == (
        "! ignoring the 'broken' commands: other_broken_commands:app failed to load "
        "(No module named 'other_broken_commands')\n"
    )
    assert "broken" not in commands_listed(shown.stdout)
    used = hipercow(installed_plugins, tmp_path, "broken")
    assert used.returncode == 2
    assert used.stderr.startswith("! ignoring the 'broken' commands")
    assert "No such command 'broken'" in used.stderr
    # Our own commands never load plugins, so they do not warn.
    assert hipercow(installed_plugins, tmp_path, "task", "--help").stderr == ""
