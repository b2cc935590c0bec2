"""The `uv` and `pip` engines: a virtual environment per build, filled by uv or by pip.

Both make a standard venv (its layout comes from `hipercow_core.environments.venv_layout`,
the one place that knows `bin/python` from `Scripts\\python.exe`) and list what
it holds the same way, by asking the venv's own interpreter, so their histories
compare alike. `uv` is the default: fast, and sharing uv's package cache
between builds. It is found on PATH (the runner on a node inherits it), or as
the `uv` Python package of the interpreter running hipercow.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

from hipercow_core.environments import BuildContext, BuildLayout, platform_tag, venv_layout
from hipercow_core.errors import HipercowError, InvalidInputError
from hipercow_core.processes import IS_WINDOWS
from hipercow_core.schema import PackageInfo, ProvisionInputs
from hipercow_provision.inputs import install_arguments

# Runs inside the environment's interpreter, which has only the standard library.
_LIST_PACKAGES = """
import json, importlib.metadata as md
seen, out = set(), []
for dist in md.distributions():
    name = dist.metadata["Name"]
    if not name or name.lower() in seen:
        continue
    seen.add(name.lower())
    source = "index"
    raw = dist.read_text("direct_url.json")
    if raw:
        info = json.loads(raw)
        url = info.get("url", "")
        vcs = info.get("vcs_info")
        if vcs:
            source = "{}+{}@{}".format(vcs.get("vcs", "vcs"), url, vcs.get("commit_id", ""))
        elif info.get("dir_info", {}).get("editable"):
            source = "editable " + url
        else:
            source = url
    out.append({"name": name, "version": dist.version, "source": source})
print(json.dumps(out))
"""


class EngineError(HipercowError):
    """An engine cannot do what it was asked (its tool missing, an interpreter not found)."""


def python_packages(interpreter: Path, ctx: BuildContext) -> list[PackageInfo]:
    """Every distribution the interpreter sees (`-I`: not the user's site or PYTHONPATH)."""
    text = ctx.run([str(interpreter), "-I", "-c", _LIST_PACKAGES], capture=True)
    found = [PackageInfo(**item) for item in json.loads(text)]
    return sorted(found, key=lambda p: p.name.lower())


class VenvEngine:
    """What the uv and pip engines share: the venv layout and the package list."""

    name: ClassVar[str]
    needs_build: ClassVar[bool] = True

    def layout(self, platform_name: str, prefix: Path | None = None) -> BuildLayout:
        return venv_layout(platform_name)

    def interpreter(self, prefix: Path, platform_name: str) -> Path:
        return prefix / Path(venv_layout(platform_name).interpreter or "")

    def is_built(self, prefix: Path, platform_name: str) -> bool:
        return (prefix / "pyvenv.cfg").is_file() and self.interpreter(
            prefix, platform_name
        ).exists()

    def packages(self, prefix: Path, platform_name: str, ctx: BuildContext) -> list[PackageInfo]:
        return python_packages(self.interpreter(prefix, platform_name), ctx)

    def _given_python(self, request: str | None) -> str | None:
        """hipercow's own interpreter when nothing is asked, or the path that was given."""
        if request is None:
            return sys.executable
        if Path(request).is_file():
            return request
        return None


def uv_command() -> list[str]:
    """How to run uv here: from PATH, else the `uv` package of this interpreter."""
    found = shutil.which("uv")
    if found:
        return [found]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    raise EngineError(
        "uv is not installed on this machine (not on PATH, nor as a Python package)",
        "Install uv where the provisioning job runs, or use an environment with --engine pip.",
    )


class UvEngine(VenvEngine):
    """`uv venv`, then `uv pip install` into it."""

    name: ClassVar[str] = "uv"

    def find_python(self, request: str | None, ctx: BuildContext) -> str:
        given = self._given_python(request)
        if given is not None:
            return given
        assert request is not None
        found = ctx.run([*uv_command(), "python", "find", request], capture=True).strip()
        if not found:
            raise EngineError(f"uv found no Python matching '{request}'")
        return found

    def create(self, prefix: Path, python: str, ctx: BuildContext) -> None:
        # Quiet: uv's closing "Activate with: source ..." is wrong advice for a
        # prefix hipercow activates itself; errors are still printed.
        ctx.run([*uv_command(), "venv", "--quiet", "--no-project", "--python", python, str(prefix)])

    def install(
        self, prefix: Path, inputs: ProvisionInputs, workdir: Path, ctx: BuildContext
    ) -> None:
        interpreter = self.interpreter(prefix, platform_tag())
        arguments = install_arguments(inputs, workdir)
        ctx.run([*uv_command(), "pip", "install", "--python", str(interpreter), *arguments])


def launcher_python(launcher: str, version: str) -> str | None:
    """The interpreter Windows' `py` launcher picks for `version` (e.g. 3.11), if any.

    A python.org install on Windows has no `python3.11` on PATH; the launcher
    knows every installed version. None when it has none of that version.
    """
    try:
        done = subprocess.run(
            [launcher, f"-{version}", "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = done.stdout.strip()
    return found if done.returncode == 0 and found else None


class PipEngine(VenvEngine):
    """The standard library's venv, then the venv's own pip."""

    name: ClassVar[str] = "pip"

    def find_python(self, request: str | None, ctx: BuildContext) -> str:
        given = self._given_python(request)
        if given is not None:
            return given
        assert request is not None
        for candidate in (f"python{request}", request):
            found = shutil.which(candidate)
            if found:
                return found
        launcher = shutil.which("py") if IS_WINDOWS else None
        if launcher is not None:
            found = launcher_python(launcher, request)
            if found:
                return found
        raise InvalidInputError(
            f"no Python '{request}' on PATH here (looked for python{request} and {request}"
            f"{', and asked the py launcher' if launcher else ''})",
            "Give the interpreter's full path, or a version that is installed on the nodes.",
        )

    def create(self, prefix: Path, python: str, ctx: BuildContext) -> None:
        ctx.run([python, "-m", "venv", str(prefix)])

    def install(
        self, prefix: Path, inputs: ProvisionInputs, workdir: Path, ctx: BuildContext
    ) -> None:
        interpreter = self.interpreter(prefix, platform_tag())
        arguments = install_arguments(inputs, workdir)
        ctx.run(
            [
                str(interpreter),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                *arguments,
            ]
        )
