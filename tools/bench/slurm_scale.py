"""The `slurm-scale` case: 1,000 held tasks to the real Slurm cluster, ours and submitit's.

Ours is `hipercow bulk create` with the slurm driver (creating the tasks and
submitting them as one job array); submitit's is `map_array` over the same
count, in one script (submitit_map_array.py) run by submitit's own venv
(the one `slurm-bundle` installs under .bench). 1,000 is the most one array
may hold here (MaxArraySize 1001), and submitit does not split arrays. Both
hold their jobs with a begin time two hours on, so only getting them into
the queue is timed; after each run the jobs are cancelled, untimed.

The case has the development cluster (tools/slurm-cluster) to itself: it
takes the Slurm tests' access lock exclusively, so no test's jobs share the
controller with it, and it lowers MinJobAge so that the cancelled jobs do not
pile up to MaxJobCount (they count until then); `configure --reset` puts the
shipped configuration back at the end.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import sh

from tools.bench.harness import REPO, BenchError, Prepared, Runner, Sample, Tool, log
from tools.bench.prep import expect_text_in, new_root
from tools.bench.slurm_bundle import SUBMITIT_HOME, SUBMITIT_VERSION, submitit_python

COUNT = 1000
CLUSTER_TOOL = REPO / "tools" / "slurm-cluster" / "cluster.py"
SETTINGS = ("MinJobAge=5", "MaxJobCount=50000")
SCRIPT = Path(__file__).resolve().parent / "submitit_map_array.py"


def cluster_tool(*args: str) -> None:
    try:
        sh.Command(sys.executable)(str(CLUSTER_TOOL), *args, _timeout=300)
    except sh.ErrorReturnCode as e:
        message = e.stderr.decode(errors="replace")[-2000:]
        raise BenchError(f"cluster.py {' '.join(args)} failed:\n{message}") from None


@contextlib.contextmanager
def cluster_alone() -> Iterator[None]:
    """The cluster, up, configured for this case, and nobody else's for the duration."""
    sys.path.insert(0, str(REPO / "tests"))
    from slurm.cluster import cluster_access  # the Slurm tests' own lock

    log("[slurm-scale] waiting for the Slurm cluster to be free")
    with cluster_access(exclusive=True):
        try:
            cluster_tool("configure", "--reset", *SETTINGS)
            yield
        finally:
            cluster_tool("configure", "--reset")


def submitit_tool(runner: Runner) -> Tool:
    """submitit from PyPI in its own venv; timed runs are `python submitit_map_array.py`."""
    python = submitit_python(fresh=False)
    return Tool(
        "theirs",
        f"submitit=={SUBMITIT_VERSION} (PyPI)",
        SUBMITIT_VERSION,
        python.parent,
        SUBMITIT_HOME,
        "slurm",
        False,
        runner,
        program=(str(python), str(SCRIPT)),
    )


def cancel_jobs_under(directory: Path) -> None:
    """Cancel this user's jobs submitted from `directory` (their working directory)."""
    out = str(sh.squeue("--noheader", "--me", "--format=%F %Z", _timeout=120))
    jobs = sorted(
        {
            job
            for job, _, workdir in (line.partition(" ") for line in out.splitlines())
            if workdir.strip() == str(directory)
        }
    )
    if jobs:
        sh.scancel(*jobs, _timeout=120)


def ours(tool: Tool) -> Prepared:
    project = new_root(tool, "slurm-scale", configure=False)
    tool.cli("driver", "configure", "slurm", "partition=main", cwd=project)
    argv = ("bulk", "create", "--hold-until", "2h", "--data", f"x=1..{COUNT}", "--", "echo", "@x")

    def after(_: Sample) -> None:
        cancel_jobs_under(project)

    return Prepared(project, argv, after=after, check=expect_text_in(f"{COUNT}"), timeout=600)


def submitit(tool: Tool) -> Prepared:
    project = tool.home / "roots" / "slurm-scale"
    project.mkdir(parents=True, exist_ok=True)
    argv = (str(project / "jobs"), str(COUNT))

    def after(_: Sample) -> None:
        cancel_jobs_under(project)

    return Prepared(project, argv, after=after, check=expect_text_in(f"{COUNT} jobs"), timeout=600)
