"""The `conda` engine: a conda prefix per build, solved and installed in the provisioning job.

py-rattler does the work by default (a wheel, so any node with hipercow can
build conda environments with no conda installed); a `conda_executable`
from the driver's configuration (micromamba, mamba or conda on the nodes)
is used instead when given. Either way:

- only the attempt's channels are used, in order, with strict priority;
- the package cache is on node-local temporary space, never on the share
  (caches on network filesystems break), while the prefix is on the share;
- the solved set is written to the attempt's `lock.json`, and its packages
  (name, version, build, channel, sha256) go into the history like uv's, so
  `history`, `compare` and `check` read the same; `--from-attempt` replays a lock;
- an environment.yml's `pip:` list is then installed with uv into the
  environment's own Python.

Builds are keyed by the platform and the Python that runs hipercow on the
node (the key says who enters the prefix, not what is in it). Tasks enter a
build from its record alone: `bin` first on PATH, `CONDA_PREFIX`, and the
packages' `etc/conda/activate.d/*.sh` scripts, sourced by the runner.
"""

from __future__ import annotations

import getpass
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

import msgspec

from hipercow_conda_env import prefix as meta
from hipercow_conda_env.rattler_job import SolveJob, SolveOutcome
from hipercow_conda_env.request import (
    CondaLock,
    CondaRequest,
    SolveError,
    lock_specs,
    read_request,
    settle_inputs,
)
from hipercow_conda_env.tools import (
    create_command,
    explicit_command,
    explicit_file,
    failure_reason,
    tool_environment,
)
from hipercow_core.environments import BuildContext, BuildLayout, is_windows, platform_tag
from hipercow_core.errors import HipercowError, InvalidInputError
from hipercow_core.schema import PackageInfo, ProvisionInputs
from hipercow_provision.build import CommandFailedError
from hipercow_provision.engines import python_packages, uv_command
from hipercow_provision.inputs import LOCK_FILE

PREFIX_VARIABLE = "CONDA_PREFIX"
# Where the package cache goes; unset, a directory in the node's temporary space.
PKGS_DIR_VARIABLE = "HIPERCOW_CONDA_PKGS_DIR"
EXECUTABLE_OPTION = "conda_executable"
_CONDARC = "condarc"


def package_cache() -> Path:
    """The node-local package cache: `$HIPERCOW_CONDA_PKGS_DIR`, else under the temp directory."""
    given = os.environ.get(PKGS_DIR_VARIABLE)
    if given:
        return Path(given)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"hipercow-conda-{user}"


class CondaEngine:
    """Conda prefixes built with py-rattler (or the site's micromamba, mamba or conda)."""

    name: ClassVar[str] = "conda"
    needs_build: ClassVar[bool] = True
    #: Read from the driver's options when provisioning (see hipercow_provision.provision).
    driver_options: ClassVar[tuple[str, ...]] = (EXECUTABLE_OPTION,)

    # --- on the submitting machine

    def check_inputs(
        self, inputs: ProvisionInputs, given: tuple[str, ...], default: tuple[str, ...]
    ) -> ProvisionInputs:
        """Settle the channels and read the inputs as the node will, so mistakes cost no job."""
        settled = settle_inputs(inputs, given, default)
        read_request(settled)
        return settled

    # --- on the node

    def find_python(self, request: str | None, ctx: BuildContext) -> str:
        """hipercow's own interpreter: it runs the build, and keys it (see the module's doc)."""
        if is_windows(platform_tag()):
            raise InvalidInputError(
                "conda environments are built on Linux and macOS nodes only",
                "Provision it through a driver whose nodes run Linux.",
            )
        if request is not None:
            ctx.say(
                f"the environment's python request '{request}' is not used by conda: "
                "add e.g. 'python=3.12' to the packages instead"
            )
        return sys.executable

    def layout(self, platform_name: str, prefix: Path | None = None) -> BuildLayout:
        if prefix is None:
            return BuildLayout("bin/python", ("bin",), PREFIX_VARIABLE)
        return BuildLayout(
            meta.interpreter(prefix), ("bin",), PREFIX_VARIABLE, meta.activation_scripts(prefix)
        )

    def is_built(self, prefix: Path, platform_name: str) -> bool:
        return (prefix / meta.CONDA_META).is_dir()

    def create(self, prefix: Path, python: str, ctx: BuildContext) -> None:
        (prefix / meta.CONDA_META).mkdir(parents=True, exist_ok=True)

    def install(
        self, prefix: Path, inputs: ProvisionInputs, workdir: Path, ctx: BuildContext
    ) -> None:
        request = read_request(inputs)
        cache = package_cache()
        cache.mkdir(parents=True, exist_ok=True)
        ctx.say(f"package cache (node-local): {cache}")
        executable = _attempt_executable(workdir)
        if executable:
            self._install_with_tool(executable, prefix, request, workdir, cache, ctx)
        else:
            specs = lock_specs(request.lock) if request.lock else list(request.specs)
            _solve(request.channels, specs, prefix, cache, workdir, ctx)
        if request.lock is not None:
            _check_replayed(prefix, request.lock)
        pinned = self._install_pip(prefix, request, workdir, ctx)
        _write_lock(workdir, prefix, request, pinned)

    def packages(self, prefix: Path, platform_name: str, ctx: BuildContext) -> list[PackageInfo]:
        """The conda packages, then what pip-style installs added that conda does not know of."""
        found = meta.conda_packages(prefix)
        python = meta.interpreter(prefix)
        if python is not None:
            known = {meta.normalised(p.name) for p in found}
            found += [
                p
                for p in python_packages(prefix / python, ctx)
                if meta.normalised(p.name) not in known
            ]
        return found

    # --- the parts

    def _install_with_tool(
        self,
        executable: str,
        prefix: Path,
        request: CondaRequest,
        workdir: Path,
        cache: Path,
        ctx: BuildContext,
    ) -> None:
        rc_file = workdir / _CONDARC
        rc_file.write_text("# empty: only the attempt's channels are used\n", encoding="utf-8")
        if request.lock is not None:
            explicit = workdir / "explicit.txt"
            explicit.write_text(explicit_file(request.lock), encoding="utf-8")
            argv = explicit_command(executable, prefix, explicit)
        else:
            argv = create_command(executable, prefix, request.channels, request.specs)
        log = workdir / "log"
        start = log.stat().st_size if log.exists() else 0
        try:
            ctx.run(argv, env=tool_environment(rc_file, cache))
        except CommandFailedError as e:
            with log.open("rb") as handle:
                handle.seek(start)
                reason = failure_reason(handle.read().decode(errors="replace"))
            if reason is None:
                raise
            raise SolveError(f"{Path(executable).name} could not build it: {reason}") from e

    def _install_pip(
        self, prefix: Path, request: CondaRequest, workdir: Path, ctx: BuildContext
    ) -> tuple[str, ...]:
        """Install the `pip:` list with uv into the environment's Python; returns what it pinned."""
        if not request.pip:
            return ()
        python = meta.interpreter(prefix)
        if python is None:
            raise InvalidInputError(
                "the pip: section needs a Python in the environment, and it has none",
                "Add 'python' to the dependencies of the environment.yml.",
            )
        requirements = workdir / "pip-requirements.txt"
        requirements.write_text("".join(f"{r}\n" for r in request.pip), encoding="utf-8")
        interpreter = prefix / python
        ctx.say(f"installing the pip: section with uv into {interpreter}")
        ctx.run(
            [*uv_command(), "pip", "install", "--python", str(interpreter), "-r", str(requirements)]
        )
        conda_names = {meta.normalised(r.name) for r in meta.meta_records(prefix)}
        return tuple(
            f"{p.name}=={p.version}"
            for p in python_packages(interpreter, ctx)
            if meta.normalised(p.name) not in conda_names and p.source == "index"
        )


def _solve(
    channels: tuple[str, ...],
    specs: list[str],
    prefix: Path,
    cache: Path,
    workdir: Path,
    ctx: BuildContext,
) -> None:
    """Solve and install with py-rattler: here when this process skips its shutdown, else apart.

    py-rattler's runtime can crash an interpreter's shutdown, so it runs in
    this process only when the process leaves through `os._exit` (a
    provisioning job); `hipercow-provision run` and the like use a child.
    """
    if ctx.exits_without_shutdown:
        from hipercow_conda_env.solver import solve_and_install

        solve_and_install(channels, specs, prefix, cache, ctx.say)
    else:
        _solve_in_child(channels, specs, prefix, cache, workdir, ctx)


def _solve_in_child(
    channels: tuple[str, ...],
    specs: list[str],
    prefix: Path,
    cache: Path,
    workdir: Path,
    ctx: BuildContext,
) -> None:
    """Solve and install with py-rattler in a process of its own (see `rattler_job`)."""
    request = workdir / "solve.json"
    outcome_path = workdir / "solve-outcome.json"
    job = SolveJob(
        channels=channels,
        specs=tuple(specs),
        prefix=str(prefix),
        cache=str(cache),
        outcome=str(outcome_path),
    )
    request.write_bytes(msgspec.json.encode(job))
    try:
        ctx.run([sys.executable, "-m", "hipercow_conda_env.rattler_job", str(request)])
    except CommandFailedError:
        if not outcome_path.is_file():
            raise
    outcome = msgspec.json.decode(outcome_path.read_bytes(), type=SolveOutcome)
    if not outcome.ok:
        raise SolveError(outcome.error or "the conda solve failed")


def _attempt_executable(workdir: Path) -> str | None:
    """The `conda_executable` the driver gave this attempt (recorded in attempt.json)."""
    from hipercow_core.schema import ProvisionAttempt

    raw = (workdir / "attempt.json").read_bytes() if (workdir / "attempt.json").is_file() else None
    if raw is None:
        return None
    attempt = msgspec.json.decode(raw, type=ProvisionAttempt)
    return attempt.engine_options.get(EXECUTABLE_OPTION) or None


def _check_replayed(prefix: Path, lock: CondaLock) -> None:
    """A replay must give exactly the locked archives; say which differ if not."""
    wanted = {(p.name, p.version, p.build) for p in lock.packages}
    got = {(r.name, r.version, r.build) for r in meta.meta_records(prefix)}
    if wanted != got:
        differ = sorted(f"{n} {v} {b}" for n, v, b in wanted ^ got)
        raise HipercowError(
            f"rebuilding from the lock gave a different set: {', '.join(differ[:5])}",
            "The channel may have lost or changed those packages.",
        )


def _write_lock(workdir: Path, prefix: Path, request: CondaRequest, pip: tuple[str, ...]) -> None:
    """Record the solved set beside the attempt (what `--from-attempt` replays)."""
    lock = CondaLock(
        platform=_conda_platform(),
        channels=request.channels,
        packages=tuple(meta.locked_packages(prefix)),
        pip=pip,
    )
    (workdir / LOCK_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(lock)) + b"\n")


def _conda_platform() -> str:
    """This machine as conda names platforms (`linux-64`), without loading py-rattler."""
    system = {"linux": "linux", "darwin": "osx", "win32": "win"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "64", "amd64": "64", "arm64": "arm64"}.get(machine, machine)
    if system == "linux" and machine == "arm64":
        arch = "aarch64"
    return f"{system}-{arch}"
