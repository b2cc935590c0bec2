"""What a conda attempt asks for: channels, match specs, a `pip:` list, or an earlier lock.

Read from the attempt's `ProvisionInputs` (package names given on the command
line, an environment.yml as it was read, or an earlier attempt's lock). The
same reading runs on the submitting machine, to refuse mistakes before a job
is spent on them, and on the node that builds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from hipercow_core.errors import HipercowError, InvalidInputError
from hipercow_core.schema import ProvisionInputs

DEFAULT_CHANNELS = ("conda-forge",)
# `nodefaults` in an environment.yml says "not the defaults channels": we never add those.
_IGNORED_CHANNELS = ("nodefaults",)
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/label/[A-Za-z0-9_.-]+)?")
_SPEC_NAME = re.compile(r"\s*(?:[^:\s]+::)?([A-Za-z0-9_][A-Za-z0-9_.\-]*)")


class SolveError(HipercowError):
    """The solver found no set of packages satisfying the specs, or could not read a channel."""


class LockedPackage(msgspec.Struct, frozen=True, omit_defaults=True):
    """One package of a solved set, exactly: the archive it came from and its hash."""

    name: str
    version: str
    build: str
    channel: str
    subdir: str
    url: str
    sha256: str | None = None
    md5: str | None = None


class CondaLock(msgspec.Struct, frozen=True, omit_defaults=True):
    """An attempt's solved set (`lock.json` in its directory): what `--from-attempt` rebuilds.

    `pip` holds the pinned requirements of what the `pip:` section installed.
    """

    platform: str
    channels: tuple[str, ...]
    packages: tuple[LockedPackage, ...]
    pip: tuple[str, ...] = ()


class CondaRequest(msgspec.Struct, frozen=True):
    """What to solve and install: `specs` from `channels` (or exactly `lock`), then `pip`."""

    channels: tuple[str, ...]
    specs: tuple[str, ...] = ()
    pip: tuple[str, ...] = ()
    lock: CondaLock | None = None


def normalise_channel(channel: str) -> str:
    """A channel as the solver takes it: an address, a directory as `file://`, or a name.

    A bare name means a channel on anaconda.org (`conda-forge`, `bioconda`);
    a path (absolute, `./`, `~`) means a local channel or an offline mirror.
    """
    text = channel.strip()
    if "://" in text:
        return text.rstrip("/")
    if text.startswith(("/", ".", "~")):
        return Path(text).expanduser().resolve().as_uri()
    if _CHANNEL_NAME.fullmatch(text):
        return text
    raise InvalidInputError(
        f"'{channel}' is not a conda channel",
        "Give a channel name (conda-forge), an address (https://…, file:///…) or a directory.",
    )


def spec_name(spec: str) -> str:
    """The package name a match spec is about (`samtools=1.20` → `samtools`)."""
    found = _SPEC_NAME.match(spec)
    return found.group(1).lower() if found else spec.strip().lower()


def _strings(value: object, what: str, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise InvalidInputError(
            f"'{path}': {what} must be a list of strings", "See the environment.yml format."
        )
    return [str(v) for v in value]


def parse_environment_yml(text: str, path: str) -> tuple[list[str], list[str], list[str]]:
    """The channels, conda specs and `pip:` requirements of an environment.yml."""
    import yaml  # only for environment.yml files: the job and the solve need it not

    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as e:
        problem = str(e).splitlines()[0]
        raise InvalidInputError(f"'{path}' is not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"'{path}' is not an environment file", "It needs a 'dependencies:' list."
        )
    channels = _strings(data.get("channels") or [], "channels", path)
    specs: list[str] = []
    pip: list[str] = []
    for item in data.get("dependencies") or []:
        if isinstance(item, dict) and set(item) == {"pip"}:
            pip.extend(_strings(item["pip"] or [], "pip", path))
        elif isinstance(item, str | int | float):
            specs.append(str(item))
        else:
            raise InvalidInputError(
                f"'{path}': dependencies hold match specs and at most a 'pip:' list, not {item!r}"
            )
    if not specs:
        raise InvalidInputError(
            f"'{path}' lists no conda dependencies", "Add packages under 'dependencies:'."
        )
    return [c for c in channels if c not in _IGNORED_CHANNELS], specs, pip


def check_pip_has_python(specs: Sequence[str], pip: Sequence[str], path: str) -> None:
    """A `pip:` section installs into the environment's own Python, so it must have one."""
    if pip and "python" not in {spec_name(s) for s in specs}:
        raise InvalidInputError(
            f"'{path}' has a pip: section but no python among its dependencies",
            "Add 'python' to the dependencies so pip packages have a Python to go into.",
        )


def read_request(inputs: ProvisionInputs) -> CondaRequest:
    """The request an attempt's inputs make (channels already settled in `inputs.channels`)."""
    channels = inputs.channels or DEFAULT_CHANNELS
    if inputs.kind == "packages":
        return CondaRequest(channels=channels, specs=inputs.packages)
    if inputs.kind == "environment":
        path = inputs.file or "environment.yml"
        _, specs, pip = parse_environment_yml(inputs.content or "", path)
        check_pip_has_python(specs, pip, path)
        return CondaRequest(channels=channels, specs=tuple(specs), pip=tuple(pip))
    if inputs.kind == "lock":
        try:
            lock = msgspec.json.decode((inputs.content or "").encode(), type=CondaLock)
        except msgspec.DecodeError as e:
            raise InvalidInputError(
                f"the lock of attempt {inputs.file} is not readable: {e}"
            ) from None
        return CondaRequest(channels=lock.channels, pip=lock.pip, lock=lock)
    raise InvalidInputError(
        f"a conda environment cannot install a {inputs.kind} file",
        "Name conda packages (samtools=1.20 bwa), or give an environment.yml with --file.",
    )


def settle_inputs(
    inputs: ProvisionInputs, given: tuple[str, ...], default: tuple[str, ...]
) -> ProvisionInputs:
    """The inputs with their channels decided and normalised, checked as the node will read them.

    Channels given now win; else an environment.yml's own; else the
    environment's (`hipercow environment new --channel`); else conda-forge.
    A lock keeps the channels it was solved from.
    """
    if inputs.kind == "lock":
        read_request(inputs)
        return inputs
    channels: Sequence[str] = given
    if not channels and inputs.kind == "environment":
        channels, _, _ = parse_environment_yml(inputs.content or "", inputs.file or "")
    if not channels:
        channels = inputs.channels or default or DEFAULT_CHANNELS
    settled = msgspec.structs.replace(
        inputs, channels=tuple(dict.fromkeys(normalise_channel(c) for c in channels))
    )
    read_request(settled)
    return settled


def lock_specs(lock: CondaLock) -> list[str]:
    """Match specs that admit exactly the locked archives: version, build and sha256 pinned."""
    specs = []
    for p in lock.packages:
        pin = f"[sha256={p.sha256}]" if p.sha256 else ""
        specs.append(f"{p.name} =={p.version} {p.build}{pin}")
    return specs
