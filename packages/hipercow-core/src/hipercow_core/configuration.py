"""`hipercow configuration`: everything about this setup in one block, to paste into a request for help.

Versions, the root, configured drivers with their options (values of fields
that look secret are masked; passwords live in the keyring, never in
options) and what each driver adds (`Driver.describe`: shares and mounts,
a service's reachability), cached cluster information and its age,
environments with their builds per platform, and the keyring backend.
"""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime

import msgspec

from hipercow_core import __version__
from hipercow_core.errors import HipercowError
from hipercow_core.root import Root

_SECRET_WORDS = ("password", "secret", "token", "key")


class Section(msgspec.Struct, frozen=True):
    """One titled block of `name: value` lines."""

    title: str
    items: dict[str, str]


def configuration(root: Root | None) -> list[Section]:
    """The sections, in the order shown; only the first two without a root."""
    sections = [_versions(), _keyring()]
    if root is None:
        return sections
    sections.append(_root(root))
    sections.extend(_drivers(root))
    sections.append(_caches(root))
    sections.append(_environments(root))
    return sections


def _versions() -> Section:
    from importlib import metadata

    items = {"hipercow": __version__, "python": sys.version.split()[0]}
    items["platform"] = platform.platform()
    for dist in sorted(metadata.distributions(), key=lambda d: d.metadata["Name"] or ""):
        name = dist.metadata["Name"] or ""
        if name.startswith("hipercow-") and name not in items:
            items[name] = dist.version
    return Section("versions", items)


def _keyring() -> Section:
    try:
        import keyring

        backend = keyring.get_keyring()
        shown = f"{type(backend).__module__}.{type(backend).__name__}"
    except Exception as e:  # a broken keyring is what this block is for
        shown = f"unavailable ({type(e).__name__}: {e})"
    return Section("keyring", {"backend": shown})


def _root(root: Root) -> Section:
    items = {"project": str(root.project)}
    try:
        meta = root.meta()
        items["schema version"] = str(meta.schema_version)
        items["created"] = meta.created.isoformat(timespec="seconds")
        items["created by"] = f"hipercow {meta.hipercow_version}"
    except (HipercowError, OSError, AttributeError) as e:
        items["metadata"] = f"unreadable: {e}"
    return Section("root", items)


def _drivers(root: Root) -> list[Section]:
    from hipercow_core.drivers.registry import get_driver

    config = root.machine_config()
    if not config.drivers:
        return [Section("drivers", {"configured": "none (tasks use 'local')"})]
    sections = []
    for entry in config.drivers:
        items = {"default": "yes" if entry.name == config.default else "no"}
        items.update({k: _masked(k, v) for k, v in sorted(entry.options.items())})
        try:
            items.update(get_driver(root, entry.name).describe())
        except HipercowError as e:
            items["problem"] = e.message
        sections.append(Section(f"driver {entry.name}", items))
    return sections


def _masked(name: str, value: object) -> str:
    if any(word in name.lower() for word in _SECRET_WORDS) and value:
        return "(set, not shown)"
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _caches(root: Root) -> Section:
    items: dict[str, str] = {}
    directory = root.cache_dir()
    now = datetime.now(UTC).timestamp()
    if directory.is_dir():
        for path in sorted(directory.rglob("*.json")):
            age = int(now - path.stat().st_mtime)
            items[str(path.relative_to(directory))] = f"saved {_age(age)} ago"
    return Section("cached cluster information", items or {"none": "nothing saved"})


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _environments(root: Root) -> Section:
    from hipercow_core.environments import list_environments, read_builds

    items: dict[str, str] = {}
    for record in list_environments(root):
        builds = [b.key for b in read_builds(root, record.name)] if record.name != "empty" else []
        shown = ", ".join(builds) if builds else "no builds"
        items[record.name] = (
            f"{record.engine}: {shown}" if record.name != "empty" else "hipercow's own Python"
        )
    return Section("environments", items)
