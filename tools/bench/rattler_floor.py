"""The floor of the `conda` case: solve and install with py-rattler and nothing else.

    python rattler_floor.py CHANNEL PREFIX CACHE SPEC...

It does what the conda engine's build does (a fresh prefix: the old one
removed; the node's virtual packages; strict channel priority; a package
cache outside the prefix), with no hipercow around it: no CLI, no job, no
history. It leaves through `os._exit`, as the engine's own solve process
does: py-rattler's native runtime can crash the interpreter as it shuts
down, about one exit in ten here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path


async def solve_and_install(channel: str, prefix: str, cache: str, specs: list[str]) -> int:
    from rattler import Gateway, Platform, VirtualPackage, install, solve

    records = await solve(
        [channel],
        specs,
        gateway=Gateway(cache_dir=Path(cache, "repodata")),
        platforms=[Platform.current(), Platform("noarch")],
        virtual_packages=VirtualPackage.detect(),
    )
    await install(records, prefix, cache_dir=Path(cache, "pkgs"), show_progress=False)
    return len(records)


def main(argv: list[str]) -> int:
    channel, prefix, cache, *specs = argv
    shutil.rmtree(prefix, ignore_errors=True)
    count = asyncio.run(solve_and_install(channel, prefix, cache, specs))
    print(f"installed {count} packages into {prefix}")
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)
