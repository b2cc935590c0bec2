"""Environments: named places for tasks to run in, built on the cluster where tasks run.

An environment lives on the share inside the root, so every node sees it:

    hipercow/environments/NAME/
      environment.json            EnvironmentRecord: name, engine, Python request
      builds/<key>/               one prefix (a venv) per platform and Python version,
      builds/<key>.json             e.g. linux-x86_64-py3.11, and its BuildRecord
      history/                    every provisioning attempt (hipercow_provision)

A task names its environment; the runner reads the build record for its own
platform and Python version and enters the prefix (interpreter, PATH, the
prefix variable such as VIRTUAL_ENV). That read needs no engine code, so the
runner stays quick and an engine installed only on the submitting machine is
not needed on the nodes.

Engines (how a prefix is built) come from the `hipercow.environments` entry
point group. `empty` is built in: its tasks run with hipercow's own
interpreter, and the environment called `empty` always exists.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, NamedTuple, Protocol, cast

import msgspec

from hipercow_core import plugins
from hipercow_core.errors import (
    CorruptFileError,
    EnvironmentNotBuiltWarning,
    HipercowError,
    HipercowWarning,
    InvalidInputError,
)
from hipercow_core.fsutil import atomic_write, decode, read_bytes
from hipercow_core.names import case_twin, refuse_case_twin, refuse_windows_reserved
from hipercow_core.root import Root
from hipercow_core.schema import (
    BuildRecord,
    EnvironmentRecord,
    PackageInfo,
    ProvisionInputs,
    ProvisionRunning,
)

EMPTY = "empty"
DEFAULT = "default"
DEFAULT_ENGINE = "uv"
RECORD = "environment.json"
RUNNING = "running.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

_record_decoder = msgspec.json.Decoder(EnvironmentRecord)
_build_decoder = msgspec.json.Decoder(BuildRecord)
_running_decoder = msgspec.json.Decoder(ProvisionRunning)


def _rebuild_hint(name: str) -> str:
    return f"Build it again with 'hipercow environment provision {name} --fresh'."


class EnvironmentNotFoundError(InvalidInputError):
    """A task or command named an environment that this root does not have."""


class EnvironmentNotBuiltError(HipercowError):
    """The environment has no successful build for the platform and Python asking for it."""


class EnvironmentBusyError(HipercowError):
    """A provisioning (or a task) is using the environment, so it cannot be changed now."""


# ---------------------------------------------------------------------------
# Names and places


def validate_name(name: str) -> str:
    """The name unchanged, or raise: names become directory names on a share."""
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"'{name}' is not a valid environment name",
            "Use up to 64 letters, digits, '.', '_' and '-', starting with a letter or digit.",
        )
    refuse_windows_reserved("an environment", name)
    return name


def environments_dir(root: Root) -> Path:
    return root.path / "environments"


def environment_dir(root: Root, name: str) -> Path:
    return environments_dir(root) / validate_name(name)


def history_dir(root: Root, name: str) -> Path:
    """Where hipercow_provision keeps the environment's attempts, running claim and lock."""
    return environment_dir(root, name) / "history"


def builds_dir(root: Root, name: str) -> Path:
    return environment_dir(root, name) / "builds"


# ---------------------------------------------------------------------------
# Records


def _not_found(name: str) -> EnvironmentNotFoundError:
    return EnvironmentNotFoundError(
        f"environment '{name}' does not exist",
        f"Create it with 'hipercow environment new {name}'; "
        "'hipercow environment list' shows the ones in this root.",
    )


def _empty_record(root: Root) -> EnvironmentRecord:
    try:
        created = root.meta().created
    except HipercowError:
        created = datetime.fromtimestamp(0, UTC)
    return EnvironmentRecord(name=EMPTY, engine=EMPTY, created=created)


def environment_exists(root: Root, name: str) -> bool:
    if name == EMPTY:
        return True
    return _NAME.fullmatch(name) is not None and (environment_dir(root, name) / RECORD).is_file()


def require_environment(root: Root, name: str) -> str:
    """The name unchanged if the environment exists; else raise with a hint."""
    validate_name(name)
    if not environment_exists(root, name):
        raise _not_found(name)
    return name


def default_environment(root: Root) -> str | None:
    """The environment of tasks that name none: `default` when it exists."""
    return DEFAULT if environment_exists(root, DEFAULT) else None


def read_environment(root: Root, name: str) -> EnvironmentRecord:
    if name == EMPTY:
        return _empty_record(root)
    validate_name(name)
    path = environment_dir(root, name) / RECORD
    raw = read_bytes(path)
    if raw is None:
        raise _not_found(name)
    return decode(path, raw, _record_decoder, _broken_hint(name))


def _broken_hint(name: str) -> str:
    return f"Delete the environment with 'hipercow environment delete {name}' and create it again."


def list_environments(root: Root) -> list[EnvironmentRecord]:
    """Every environment, `empty` first, then by name."""
    found = [_empty_record(root)]
    try:
        entries = sorted(os.listdir(environments_dir(root)))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if entry != EMPTY and environment_exists(root, entry):
            try:
                found.append(read_environment(root, entry))
            except CorruptFileError as e:  # show the others; name the broken one
                import warnings

                from hipercow_core.errors import HipercowWarning

                warnings.warn(HipercowWarning(f"{e.message}; {e.hint}"), stacklevel=2)
    return found


def create_environment(
    root: Root,
    name: str,
    engine: str = DEFAULT_ENGINE,
    python: str | None = None,
    channels: Sequence[str] = (),
) -> EnvironmentRecord:
    """Record a new environment; nothing is built until it is provisioned."""
    validate_name(name)
    if name == EMPTY:
        raise InvalidInputError(
            "'empty' is built in: tasks in it run with hipercow's own Python",
            "Choose another name.",
        )
    load_engine(engine)
    directory = environment_dir(root, name)
    refuse_case_twin(
        "environment",
        name,
        case_twin(environments_dir(root), name),
        "Choose another name, or use the existing environment.",
    )
    if (directory / RECORD).exists():
        raise InvalidInputError(
            f"environment '{name}' already exists",
            f"Provision it with 'hipercow environment provision {name}', "
            f"or delete it first with 'hipercow environment delete {name}'.",
        )
    record = EnvironmentRecord(
        name=name,
        engine=engine,
        created=datetime.now(UTC),
        python=python,
        channels=tuple(channels),
    )
    (directory / "builds").mkdir(parents=True, exist_ok=True)
    (directory / "history").mkdir(exist_ok=True)
    atomic_write(directory / RECORD, msgspec.json.format(msgspec.json.encode(record)) + b"\n")
    warn_if_too_deep(directory / "builds")
    return record


#: Windows' classic limit on a path's length, which many programs still keep.
WINDOWS_MAX_PATH = 260
#: Room a build needs below `builds`: its prefix, then a package's deepest files
#: under `Lib/site-packages` (100 characters is common for large packages).
BUILD_DEPTH = 120


def warn_if_too_deep(builds: Path) -> None:
    """Warn when a build's files would pass Windows' 260-character path limit.

    A venv's deepest files sit well below its prefix; past the limit, pip on
    Windows fails half way through an install (and Python cannot import them)
    unless long paths are enabled on every machine that uses the share.
    """
    length = len(str(builds)) + BUILD_DEPTH
    if length > WINDOWS_MAX_PATH:
        warnings.warn(
            HipercowWarning(
                f"the environment's builds are {len(str(builds))} characters deep, so its "
                f"files would pass Windows' {WINDOWS_MAX_PATH}-character path limit; "
                "use a shorter project path or environment name if Windows will use it"
            ),
            stacklevel=3,
        )


def read_running(root: Root, name: str) -> ProvisionRunning | None:
    """The claim of the provisioning in progress, if any (it may be stale)."""
    path = history_dir(root, name) / RUNNING
    raw = read_bytes(path)
    return decode(path, raw, _running_decoder, _broken_hint(name)) if raw else None


# ---------------------------------------------------------------------------
# Platforms and builds


class BuildLayout(NamedTuple):
    """Where things are inside a prefix, relative to it with POSIX separators.

    `interpreter` is None when the prefix has no Python of its own; `activate`
    are shell scripts to source when entering it (see BuildRecord).
    """

    interpreter: str | None
    path: tuple[str, ...]
    prefix_variable: str | None
    activate: tuple[str, ...] = ()


def platform_tag(system: str | None = None, machine: str | None = None) -> str:
    """This machine's platform as builds are keyed: `linux-x86_64`, `win32-amd64`, `darwin-arm64`."""
    return f"{system or sys.platform}-{(machine or platform.machine()).lower() or 'unknown'}"


def build_key(platform_name: str, python_version: str) -> str:
    """`linux-x86_64-py3.11`: one build per platform and Python minor version."""
    major_minor = ".".join(python_version.split(".")[:2])
    return f"{platform_name}-py{major_minor}"


def is_windows(platform_name: str) -> bool:
    return platform_name.startswith(("win32", "cygwin"))


def venv_layout(platform_name: str) -> BuildLayout:
    """A venv's layout: `Scripts\\python.exe` on Windows, `bin/python` elsewhere (the one place)."""
    if is_windows(platform_name):
        return BuildLayout("Scripts/python.exe", ("Scripts",), "VIRTUAL_ENV")
    return BuildLayout("bin/python", ("bin",), "VIRTUAL_ENV")


def read_builds(root: Root, name: str) -> list[BuildRecord]:
    """Every build of an environment, newest first."""
    directory = builds_dir(root, name)
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".json")]
    except FileNotFoundError:
        return []
    records = []
    for entry in names:
        raw = read_bytes(directory / entry)
        if raw is not None:
            records.append(decode(directory / entry, raw, _build_decoder, _rebuild_hint(name)))
    records.sort(key=lambda b: b.updated, reverse=True)
    return records


def write_build(root: Root, name: str, record: BuildRecord) -> None:
    directory = builds_dir(root, name)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / f"{record.key}.json", msgspec.json.encode(record))


def select_build(
    root: Root, name: str, platform_name: str | None = None, python_version: str | None = None
) -> BuildRecord | None:
    """The build to run in here: this platform, this Python if built, else the newest for it."""
    platform_name = platform_name or platform_tag()
    python_version = python_version or "{}.{}".format(*sys.version_info[:2])
    path = builds_dir(root, name) / f"{build_key(platform_name, python_version)}.json"
    exact = read_bytes(path)
    if exact is not None:
        return decode(path, exact, _build_decoder, _rebuild_hint(name))
    candidates = [b for b in read_builds(root, name) if b.platform == platform_name]
    return candidates[0] if candidates else None


def task_build(root: Root, name: str | None) -> BuildRecord | None:
    """The build a task in environment `name` runs in here; None means hipercow's own Python.

    Raises when the environment is gone or was never built for this platform,
    so the task fails saying what to do instead of running in the wrong place.
    """
    if name is None or name == EMPTY:
        return None
    record = read_environment(root, name)
    if record.engine == EMPTY:
        return None
    build = select_build(root, name)
    if build is None:
        here = build_key(platform_tag(), "{}.{}".format(*sys.version_info[:2]))
        raise EnvironmentNotBuiltError(
            f"environment '{name}' has no successful build for {here}",
            f"Provision it on this kind of node: 'hipercow environment provision {name}'.",
        )
    return build


def warn_if_unbuilt(root: Root, name: str, *, runs_here: bool) -> None:
    """Warn, at task creation, that tasks in `name` will fail for want of a build.

    Said then rather than only when each task fails at run time. Where the
    tasks run on this machine (the local driver) its platform needs a build;
    for a cluster's nodes, whose platform is not known here, any build will do.
    """
    if name == EMPTY or read_environment(root, name).engine == EMPTY:
        return
    if runs_here:
        missing = select_build(root, name) is None
        where = f" for {platform_tag()}"
    else:
        missing = not read_builds(root, name)
        where = ""
    if missing:
        warnings.warn(
            f"environment '{name}' has no build{where} yet, so its tasks will fail: "
            f"provision it with 'hipercow environment provision {name}'",
            EnvironmentNotBuiltWarning,
            stacklevel=3,
        )


def build_prefix(root: Root, name: str, build: BuildRecord) -> Path:
    return environment_dir(root, name) / Path(build.prefix)


def build_interpreter(root: Root, name: str, build: BuildRecord) -> Path | None:
    """The build's own Python; None when it has none (tasks then use hipercow's)."""
    if build.interpreter is None:
        return None
    return build_prefix(root, name, build) / Path(build.interpreter)


# Sources each script given as an argument, as conda does (a script's last
# status does not matter; one that exits, or does not parse, stops the shell),
# its output sent to stderr, then prints the resulting environment
# NUL-separated (values may hold newlines).
_SOURCE_SCRIPTS = 'for script do . "$script" >&2; done; exec env -0'
# Variables the shell itself sets: they keep the values they came with.
_SHELL_VARIABLES = ("_", "PWD", "OLDPWD", "SHLVL")


class ActivationError(HipercowError):
    """An environment's activation script failed, so its tasks cannot be entered into it."""


def run_activation(scripts: Sequence[Path], env: Mapping[str, str]) -> dict[str, str]:
    """The environment after sourcing `scripts` in a POSIX shell started with `env`.

    This is how conda's `etc/conda/activate.d` scripts take effect: sourced
    at each task's start, on the node, so they see the node's own paths.
    """
    try:
        done = subprocess.run(
            ["sh", "-c", _SOURCE_SCRIPTS, "sh", *map(str, scripts)],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    except OSError as e:
        raise ActivationError(f"cannot run sh for the activation scripts: {e}") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise ActivationError(
            f"an activation script of the environment failed (exit code {done.returncode})"
            + (f": {detail[-1]}" if detail else ""),
            f"The scripts: {', '.join(map(str, scripts))}.",
        )
    entries = (item.partition("=") for item in done.stdout.decode(errors="replace").split("\0"))
    result = {key: value for key, _, value in entries if key and key not in _SHELL_VARIABLES}
    result.update({key: env[key] for key in _SHELL_VARIABLES if key in env})
    return result


def activate(root: Root, name: str | None, env: Mapping[str, str]) -> dict[str, str]:
    """A process environment entered into the environment.

    Its PATH directories first, then its prefix variable, then its activation
    scripts (if the build lists any) sourced over that.
    """
    result = dict(env)
    build = task_build(root, name)
    if build is None or name is None:
        return result
    prefix = build_prefix(root, name, build)
    dirs = [str(prefix / Path(d)) if d else str(prefix) for d in build.path]
    path_name = next((k for k in result if k.upper() == "PATH"), "PATH")
    result[path_name] = os.pathsep.join([*dirs, *filter(None, [result.get(path_name)])])
    if build.prefix_variable:
        result[build.prefix_variable] = str(prefix)
    result.pop("PYTHONHOME", None)
    if build.activate and not is_windows(build.platform):
        result = run_activation([prefix / Path(s) for s in build.activate], result)
    return result


# ---------------------------------------------------------------------------
# Engines: the `hipercow.environments` entry point group


class BuildContext(Protocol):
    """What a provisioning attempt offers an engine: commands that are logged and recorded."""

    #: True when the process running the build leaves through `os._exit` once the
    #: outcome is recorded (a provisioning job): an engine may then load a native
    #: library whose teardown can crash an interpreter (py-rattler) in this process,
    #: saving the start of another; elsewhere it runs such work in a child.
    exits_without_shutdown: bool

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        capture: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Run a command, its output going to the attempt's log (returned instead if `capture`).

        Raises a HipercowError when the command fails or cannot start.
        """
        ...

    def say(self, text: str) -> None:
        """Write a line of explanation into the attempt's log."""
        ...


class Engine(Protocol):
    """How prefixes are built: `uv`, `pip` (hipercow_provision), `conda` (hipercow_conda_env)."""

    name: ClassVar[str]
    needs_build: ClassVar[bool]

    def find_python(self, request: str | None, ctx: BuildContext) -> str:
        """The interpreter to build from: `request` (a version or path) or hipercow's own."""
        ...

    def layout(self, platform_name: str, prefix: Path | None = None) -> BuildLayout:
        """Where the interpreter and the PATH directories are inside a prefix.

        `prefix` is the prefix as built, for engines whose layout depends on
        what was installed (conda: an interpreter only if Python is in it).
        """
        ...

    def is_built(self, prefix: Path, platform_name: str) -> bool:
        """Whether `prefix` already holds a usable prefix of this engine."""
        ...

    def create(self, prefix: Path, python: str, ctx: BuildContext) -> None:
        """Make a new prefix from the interpreter `python`."""
        ...

    def install(
        self, prefix: Path, inputs: ProvisionInputs, workdir: Path, ctx: BuildContext
    ) -> None:
        """Install the inputs into the prefix; `workdir` is the attempt's own directory."""
        ...

    def packages(self, prefix: Path, platform_name: str, ctx: BuildContext) -> list[PackageInfo]:
        """The complete list of what the prefix holds now."""
        ...


class EmptyEngine:
    """Nothing to build: tasks run with the Python that runs hipercow itself."""

    name: ClassVar[str] = EMPTY
    needs_build: ClassVar[bool] = False

    def _nothing(self) -> HipercowError:
        return InvalidInputError(
            "an environment with the 'empty' engine has nothing to build",
            "Create one with '--engine uv' (or pip) to install packages.",
        )

    def find_python(self, request: str | None, ctx: BuildContext) -> str:
        return sys.executable

    def layout(self, platform_name: str, prefix: Path | None = None) -> BuildLayout:
        raise self._nothing()

    def is_built(self, prefix: Path, platform_name: str) -> bool:
        return True

    def create(self, prefix: Path, python: str, ctx: BuildContext) -> None:
        raise self._nothing()

    def install(
        self, prefix: Path, inputs: ProvisionInputs, workdir: Path, ctx: BuildContext
    ) -> None:
        raise self._nothing()

    def packages(self, prefix: Path, platform_name: str, ctx: BuildContext) -> list[PackageInfo]:
        return []


def available_engines() -> list[str]:
    return sorted(plugins.targets(plugins.ENGINES))


def load_engine(name: str) -> Engine:
    """An engine by name; unknown names say which package would provide them."""
    factory = plugins.load(plugins.ENGINES, name)
    if factory is None:
        raise InvalidInputError(
            f"unknown environment engine '{name}'",
            f"Available engines: {', '.join(available_engines())}; the uv and pip engines "
            "come with the hipercow-provision package, conda with hipercow-conda-env.",
        )
    return cast(Engine, cast(Callable[[], object], factory)())


__all__ = [
    "DEFAULT",
    "EMPTY",
    "ActivationError",
    "BuildContext",
    "BuildLayout",
    "EmptyEngine",
    "Engine",
    "EnvironmentBusyError",
    "EnvironmentNotBuiltError",
    "EnvironmentNotFoundError",
    "activate",
    "available_engines",
    "build_interpreter",
    "build_key",
    "build_prefix",
    "builds_dir",
    "create_environment",
    "default_environment",
    "environment_dir",
    "environment_exists",
    "history_dir",
    "list_environments",
    "load_engine",
    "platform_tag",
    "read_builds",
    "read_environment",
    "read_running",
    "require_environment",
    "run_activation",
    "select_build",
    "task_build",
    "venv_layout",
    "write_build",
]
