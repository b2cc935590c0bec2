"""Finding what other packages add to hipercow, through entry points.

Installing a package is all it takes to add a driver (`hipercow.drivers`),
an environment engine (`hipercow.environments`) or commands (`hipercow.cli`).
Scanning installed distributions is the slowest part of start-up (importing
`importlib.metadata` alone costs more than the rest of a quick command), so
names built into core are found without any scan, one plugin asked for by
name is looked for first among the `hipercow*` distributions (by reading
their `entry_points.txt` directly), and a full scan happens at most once per
group and process, when listing or when the quick look finds nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import import_module
from typing import Final

DRIVERS: Final = "hipercow.drivers"
ENGINES: Final = "hipercow.environments"
COMMANDS: Final = "hipercow.cli"

#: Plugins that live in core itself, per group: name -> "module:attribute".
BUILTIN: Final[Mapping[str, Mapping[str, str]]] = {
    DRIVERS: {"local": "hipercow_core.drivers.local:LocalDriver"},
    ENGINES: {"empty": "hipercow_core.environments:EmptyEngine"},
    COMMANDS: {},
}


@cache
def _installed(group: str) -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=group)}


#: How the distributions looked at first are named (their dist-info directory).
_QUICK_PREFIX: Final = "hipercow"


def _quick_dist_infos() -> Iterator[str]:
    """The `hipercow*.dist-info` directories on sys.path, earliest path entry first."""
    seen: set[str] = set()
    for directory in sys.path:
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        for entry in names:
            if not (entry.startswith(_QUICK_PREFIX) and entry.endswith(".dist-info")):
                continue
            distribution = entry.partition("-")[0].lower()
            if distribution not in seen:  # the first one found is the one Python imports
                seen.add(distribution)
                yield os.path.join(directory or ".", entry)


def _entry_points_in(dist_info: str, group: str) -> dict[str, str]:
    """One distribution's entry points of a group, from its `entry_points.txt` (an ini file)."""
    try:
        with open(os.path.join(dist_info, "entry_points.txt"), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    found: dict[str, str] = {}
    section = None
    for raw in lines:
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            found[name.strip()] = value.strip()
    return found


@cache
def _quick(group: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for dist_info in _quick_dist_infos():
        for name, value in _entry_points_in(dist_info, group).items():
            found.setdefault(name, value)
    return found


def builtin_target(group: str, name: str) -> str | None:
    """The target of a plugin built into core, found without scanning entry points."""
    return BUILTIN.get(group, {}).get(name)


def targets(group: str) -> dict[str, str]:
    """Every plugin of a group, name -> "module:attribute"; core's own win over installed ones."""
    return {**_installed(group), **BUILTIN.get(group, {})}


def target(group: str, name: str) -> str | None:
    """Where the plugin `name` of a group lives, or None if nothing provides it.

    Core's own, then hipercow's packages (no scan), then every installed one.
    """
    return builtin_target(group, name) or _quick(group).get(name) or targets(group).get(name)


def load_target(value: str) -> object:
    """Import "module:attribute" (attribute may be dotted) and return the object."""
    module_name, _, attribute = value.partition(":")
    found: object = import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        found = getattr(found, part)
    return found


def load(group: str, name: str) -> object | None:
    """The plugin object `name` of a group, or None if nothing provides it."""
    value = target(group, name)
    return None if value is None else load_target(value)
