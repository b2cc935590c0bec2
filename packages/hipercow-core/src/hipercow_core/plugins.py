"""Finding what other packages add to hipercow, through entry points.

Installing a package is all it takes to add a driver (`hipercow.drivers`),
an environment engine (`hipercow.environments`) or commands (`hipercow.cli`).
Scanning installed distributions is the slowest part of start-up, so each
group is scanned at most once per process, and names built into core are
found without any scan.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def builtin_target(group: str, name: str) -> str | None:
    """The target of a plugin built into core, found without scanning entry points."""
    return BUILTIN.get(group, {}).get(name)


def targets(group: str) -> dict[str, str]:
    """Every plugin of a group, name -> "module:attribute"; core's own win over installed ones."""
    return {**_installed(group), **BUILTIN.get(group, {})}


def target(group: str, name: str) -> str | None:
    """Where the plugin `name` of a group lives, or None if nothing provides it."""
    return builtin_target(group, name) or targets(group).get(name)


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
