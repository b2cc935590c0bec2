"""The `conda` case: our provisioning of a conda environment against py-rattler alone.

Both sides solve the same three-package spec from the same local channel
(tools/conda-channel, built once per run) and install it into a fresh prefix
with a warm package cache. Ours goes the whole way a user's command goes:
`hipercow environment provision bio --fresh SPEC...` through the `local`
driver (the CLI, the provisioning job's start, its history, its log
followed), so the ratio shows what hipercow adds on top of the solve and
install; the floor is `rattler_floor.py`, run with the same interpreter.
"""

from __future__ import annotations

import shutil
import sys
from functools import cache
from pathlib import Path

from tools.bench.harness import BENCH_DIR, REPO, Prepared, Runner, Sample, Tool
from tools.bench.prep import expect_text_in, new_root, ours_settle

SPECS = ("mini-align=2.0", "libfasta", "refgenome")
_FLOOR_SCRIPT = Path(__file__).resolve().parent / "rattler_floor.py"


@cache
def local_channel() -> str:
    """The test channel under .bench, made once per run for both sides: its file:// address."""
    sys.path.insert(0, str(REPO / "tools" / "conda-channel"))
    from conda_channel import build_channel  # type: ignore[import-not-found,unused-ignore]

    channel = BENCH_DIR / "conda-channel"
    shutil.rmtree(channel, ignore_errors=True)
    address: str = build_channel(channel)
    return address


def rattler_floor_tool(runner: Runner) -> Tool:
    from importlib.metadata import version

    bin_dir = REPO / ".venv" / "bin"
    return Tool(
        "theirs",
        "bare py-rattler script",
        version("py-rattler"),
        bin_dir,
        BENCH_DIR / "rattler-floor",
        "-",
        False,
        runner,
        program=(str(bin_dir / "python"), str(_FLOOR_SCRIPT)),
    )


def conda_ours(tool: Tool) -> Prepared:
    project = new_root(tool, "conda")
    channel = local_channel()
    tool.cli("environment", "new", "bio", "--engine", "conda", "--channel", channel, cwd=project)
    ours_settle(project)

    def settle(_: Sample) -> None:
        ours_settle(project)

    return Prepared(
        project,
        ("environment", "provision", "bio", "--fresh", *SPECS),
        after=settle,
        check=expect_text_in("3 packages"),
    )


def conda_floor(tool: Tool) -> Prepared:
    tool.home.mkdir(parents=True, exist_ok=True)
    channel = local_channel()
    prefix, cache = tool.home / "prefix", tool.home / "cache"
    return Prepared(
        tool.home,
        (channel, str(prefix), str(cache), *SPECS),
        check=expect_text_in("installed 3 packages"),
    )
