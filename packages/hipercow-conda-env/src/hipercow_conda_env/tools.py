"""A site's own micromamba, mamba or conda, when the driver configuration names one.

Many clusters already have one of these on their nodes (often at a fixed path
on a share), and sites expect it to be used. The command lines keep to what
all three accept, and keep the user's own configuration out: an empty rc file
via `CONDARC`/`MAMBARC` (micromamba also gets `--no-rc`), `--override-channels`
with only the channels asked for, strict channel priority, and the package
cache in node-local space via `CONDA_PKGS_DIRS`. What the tool installed is
then read from `conda-meta`, which all three write alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from hipercow_conda_env.request import CondaLock
from hipercow_core.errors import InvalidInputError

ToolKind = Literal["micromamba", "mamba", "conda"]
_KINDS: tuple[ToolKind, ...] = ("micromamba", "mamba", "conda")
# Lines that start a tool's account of why a solve failed.
_FAILURE_MARKS = (
    "Could not solve for environment specs",
    "PackagesNotFoundError",
    "UnsatisfiableError",
    "LibMambaUnsatisfiableError",
    "ResolvePackageNotFound",
    "CondaHTTPError",
    "The environment can't be solved",
)


def tool_kind(executable: str) -> ToolKind:
    """Which tool an executable is, by its name (`/opt/bin/micromamba-1.5` is micromamba)."""
    name = Path(executable).name.lower().removesuffix(".exe")
    for kind in _KINDS:
        if name.startswith(kind):
            return kind
    raise InvalidInputError(
        f"conda_executable '{executable}' is not micromamba, mamba or conda",
        "Name one of those tools (its path on the nodes) in the driver's configuration.",
    )


def create_command(
    executable: str, prefix: Path, channels: Sequence[str], specs: Sequence[str]
) -> list[str]:
    """`create` the prefix afresh holding exactly what `specs` solve to from `channels`."""
    argv = [executable, "create", "--yes", "--prefix", str(prefix)]
    if tool_kind(executable) == "micromamba":
        argv.append("--no-rc")
    argv += ["--override-channels", "--strict-channel-priority"]
    for channel in channels:
        argv += ["--channel", channel]
    return [*argv, *specs]


def explicit_file(lock: CondaLock) -> str:
    """An `@EXPLICIT` file (archive URLs with their md5) that all three tools install unsolved."""
    lines = ["# exact set replayed by hipercow", "@EXPLICIT"]
    lines += [f"{p.url}#{p.md5}" if p.md5 else p.url for p in lock.packages]
    return "\n".join(lines) + "\n"


def explicit_command(executable: str, prefix: Path, explicit: Path) -> list[str]:
    argv = [executable, "create", "--yes", "--prefix", str(prefix)]
    if tool_kind(executable) == "micromamba":
        argv.append("--no-rc")
    return [*argv, "--file", str(explicit)]


def tool_environment(rc_file: Path, pkgs_dir: Path) -> dict[str, str]:
    """Variables for the tool: our empty rc file, not the user's; the node-local package cache."""
    return {
        "CONDARC": str(rc_file),
        "MAMBARC": str(rc_file),
        "CONDA_PKGS_DIRS": str(pkgs_dir),
        "CONDA_CHANNEL_PRIORITY": "strict",
        "MAMBA_NO_BANNER": "1",
    }


def failure_reason(output: str, limit: int = 300) -> str | None:
    """Why a tool's solve failed, on one line, from its output; None if it does not say.

    The reason is the marking line (`error libmamba Could not solve…`,
    `PackagesNotFoundError: …`) and the indented lines after it (the
    incompatible packages), their tree drawing dropped.
    """
    lines = output.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if any(mark in line for mark in _FAILURE_MARKS)), None
    )
    if start is None:
        return None
    head = lines[start].strip()
    for prefix in ("error    libmamba ", "critical libmamba ", "error libmamba "):
        head = head.removeprefix(prefix)
    parts = [head.rstrip(":")]
    for line in lines[start + 1 :]:
        if line.strip() and not line[:1].isspace():
            break
        text = line.strip(" │├└─\t-")
        if text and not text.startswith(("The following", "Current channels")):
            parts.append(text)
        if text.startswith("Current channels"):
            break
    joined = parts[0] + (": " + "; ".join(parts[1:]) if len(parts) > 1 else "")
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."
