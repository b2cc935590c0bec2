"""`python -m hipercow_conda_env.rattler_job REQUEST.json`: one py-rattler solve and install.

The conda engine runs this as a command of the attempt (logged, recorded,
stopped on cancel like uv's) rather than in the provisioning job itself:
py-rattler's native runtime can crash the interpreter as it shuts down
(here, about one exit in ten, success or not). So this process writes its
outcome to a file, flushes, and leaves with `os._exit`, skipping the
shutdown; the job reads the outcome from the file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import msgspec


class SolveJob(msgspec.Struct, frozen=True):
    """What the job asks for, and where to write how it went."""

    channels: tuple[str, ...]
    specs: tuple[str, ...]
    prefix: str
    cache: str
    outcome: str


class SolveOutcome(msgspec.Struct, frozen=True, omit_defaults=True):
    """How it went: `error` is the one-line message when it failed."""

    ok: bool
    error: str | None = None


def _say(text: str) -> None:
    sys.stdout.write(f"hipercow-provision: {text}\n")
    sys.stdout.flush()


def run(job: SolveJob) -> SolveOutcome:
    from hipercow_conda_env.solver import solve_and_install
    from hipercow_core.errors import HipercowError

    try:
        solve_and_install(job.channels, job.specs, Path(job.prefix), Path(job.cache), _say)
    except HipercowError as e:
        return SolveOutcome(ok=False, error=e.message)
    return SolveOutcome(ok=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m hipercow_conda_env.rattler_job REQUEST.json\n")
        return 2
    job = msgspec.json.decode(Path(argv[0]).read_bytes(), type=SolveJob)
    outcome = run(job)
    Path(job.outcome).write_bytes(msgspec.json.encode(outcome))
    return 0 if outcome.ok else 3


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
