"""Solving and installing with py-rattler, in the provisioning job itself: no conda needed.

Only the channels asked for are read (no rc file is), with strict channel
priority; the node's virtual packages (`__unix`, `__glibc`, …) are detected
and offered to the solver, as conda does. `install` leaves the prefix holding
exactly the solved set. Packages are fetched into a node-local cache.

Exceptions never leave `asyncio.run()` here: rattler calls are wrapped inside
the coroutine, which returns the error instead (an exception escaping the
event loop after rattler calls could, rarely, crash the process at exit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hipercow_conda_env.request import SolveError

if TYPE_CHECKING:
    from rattler import RepoDataRecord


def _summary(text: str, limit: int = 300) -> str:
    """A solver message on one line: the tree it draws with `├─ └─ │` flattened into words."""
    parts = [line.strip(" │├└─\t") for line in text.splitlines()]
    joined = " ".join(p for p in parts if p)
    joined = joined.removeprefix("Cannot solve the request because of: ")
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


async def _solve_install(
    channels: Sequence[str], specs: Sequence[str], prefix: Path, cache: Path
) -> tuple[list[RepoDataRecord], str | None, str | None]:
    """(records, error kind, error text): the error is returned, never raised out of here."""
    from rattler import Gateway, Platform, VirtualPackage, install, solve

    try:
        platform = Platform.current()
        records = await solve(
            list(channels),
            list(specs),
            gateway=Gateway(cache_dir=cache / "repodata"),
            platforms=[platform, Platform("noarch")],
            virtual_packages=VirtualPackage.detect(),
        )
    except Exception as e:
        return [], type(e).__name__, str(e)
    try:
        await install(records, prefix, cache_dir=cache / "pkgs", show_progress=False)
    except Exception as e:
        return records, f"install:{type(e).__name__}", str(e)
    return records, None, None


def solve_and_install(
    channels: Sequence[str],
    specs: Sequence[str],
    prefix: Path,
    cache: Path,
    say: Callable[[str], None],
) -> None:
    """Solve `specs` from `channels` and make `prefix` hold that set, saying what it does.

    Raises SolveError with the solver's message on one line; its full text
    goes to `say` (the attempt's log) first.
    """
    say(f"solving {' '.join(specs)} from {', '.join(channels)} (strict channel priority)")
    records, kind, text = asyncio.run(_solve_install(channels, specs, prefix, cache))
    if kind is not None:
        detail = text or kind
        for line in detail.splitlines():
            say(f"  {line}")
        if kind.startswith("install:"):
            raise SolveError(f"installing the solved packages failed: {_summary(detail)}")
        if kind == "SolverError":
            raise SolveError(f"the conda specs cannot be satisfied: {_summary(detail)}")
        if kind == "GatewayError":
            raise SolveError(f"a conda channel could not be read: {_summary(detail)}")
        raise SolveError(f"the conda solve failed ({kind}): {_summary(detail)}")
    say(f"installed {len(records)} conda packages into {prefix}:")
    for r in sorted(records, key=lambda r: r.name.normalized):
        say(f"  {r.name.normalized} {r.version} {r.build} ({r.channel or '?'})")
