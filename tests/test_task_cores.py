"""A task's cores reach its work: the thread variables, numpy's BLAS, CPU sets on `local`."""

from __future__ import annotations

import json
import sys

import pytest

from hipercow_core.root import Root
from hipercow_testing import Cli

SHOW = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k in {}}))"
NAMES = [
    "HIPERCOW_CORES",
    "HIPERCOW_THREADS_PER_PROCESS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "MC_CORES",
    "R_DATATABLE_NUM_THREADS",
]

# What numpy's BLAS will use, as threadpoolctl sees it once numpy is loaded.
BLAS_THREADS = (
    "import numpy, threadpoolctl; "
    "print(max(i['num_threads'] for i in threadpoolctl.threadpool_info()"
    " if i['user_api'] == 'blas'))"
)


def variables(cli: Cli, *args: str) -> dict[str, str]:
    """The core variables a task sees, run with these creation options."""
    code = SHOW.replace("{}", repr(set(NAMES)))
    created = cli("task", "create", "--wait", *args, "--", sys.executable, "-c", code, check=False)
    task_id = created.stdout.strip().splitlines()[0]
    assert created.code == 0, created.output
    shown: dict[str, str] = json.loads(cli("task", "log", task_id).stdout)
    return shown


def run_log(cli: Cli, *args: str) -> str:
    created = cli("task", "create", "--wait", *args, check=False)
    assert created.code == 0, created.output
    return cli("task", "log", created.stdout.strip().splitlines()[0]).stdout


def test_a_task_sees_its_cores_in_every_thread_variable(cli: Cli) -> None:
    seen = variables(cli, "--cores", "2")
    assert seen.pop("HIPERCOW_CORES") == "2"
    assert "HIPERCOW_THREADS_PER_PROCESS" not in seen
    assert seen == dict.fromkeys(NAMES[2:], "2")
    one = variables(cli)
    assert one["OMP_NUM_THREADS"] == one["MC_CORES"] == one["HIPERCOW_CORES"] == "1"


def test_numpy_blas_uses_the_tasks_cores(cli: Cli) -> None:
    assert run_log(cli, "--cores", "2", "--", sys.executable, "-c", BLAS_THREADS) == "2\n"
    assert run_log(cli, "--cores", "1", "--", sys.executable, "-c", BLAS_THREADS) == "1\n"


def test_env_wins_over_the_cores_variables(cli: Cli) -> None:
    seen = variables(cli, "--cores", "2", "--env", "OMP_NUM_THREADS=7")
    assert seen["OMP_NUM_THREADS"] == "7"
    assert seen["MKL_NUM_THREADS"] == "2"


def test_threads_per_process_sets_the_threads_and_the_process_count(cli: Cli) -> None:
    seen = variables(cli, "--cores", "2", "--threads-per-process", "1")
    assert seen["HIPERCOW_CORES"] == "2"
    assert seen["HIPERCOW_THREADS_PER_PROCESS"] == "1"
    assert seen["OMP_NUM_THREADS"] == seen["POLARS_MAX_THREADS"] == "1"
    assert seen["MC_CORES"] == "2"


def test_the_thread_variables_can_be_left_unset(cli: Cli) -> None:
    seen = variables(cli, "--cores", "2", "--no-thread-variables")
    assert seen == {"HIPERCOW_CORES": "2"}


def test_more_threads_per_process_than_cores_is_refused(cli: Cli) -> None:
    refused = cli("task", "create", "--threads-per-process", "3", "--", "true", check=False)
    assert refused.code == 1
    assert "--threads-per-process 3 is more than the task's 1 core(s)" in refused.stderr
    assert "Traceback" not in refused.output
    assert cli("task", "list").stdout == ""


def test_a_process_pool_fills_the_tasks_cores_with_one_thread_each(cli: Cli, project: Root) -> None:
    (project.project / "pool.py").write_text(
        "import threadpoolctl, numpy\n"
        "from hipercow_core import process_pool\n"
        "def blas(_):\n"
        "    return max(i['num_threads'] for i in threadpoolctl.threadpool_info()"
        " if i['user_api'] == 'blas')\n"
        "if __name__ == '__main__':\n"
        "    with process_pool() as pool:\n"
        "        print(pool._max_workers, set(pool.map(blas, range(4))))\n"
    )
    assert run_log(cli, "--cores", "2", "--", sys.executable, "pool.py") == "2 {1}\n"


@pytest.mark.skipif(sys.platform != "linux", reason="CPU sets are Linux's sched_setaffinity")
def test_two_one_core_tasks_running_at_once_have_disjoint_cpu_sets(cli: Cli, project: Root) -> None:
    # Each task writes its CPU set, then waits until the other has written its own,
    # so the two are known to run at the same time.
    script = (
        "import os, sys, time\n"
        "me, other = sys.argv[1], sys.argv[2]\n"
        "open(me, 'w').write(','.join(map(str, sorted(os.sched_getaffinity(0)))))\n"
        "deadline = time.monotonic() + 60\n"
        "while not os.path.exists(other) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "sys.exit(0 if os.path.exists(other) else 1)\n"
    )
    (project.project / "cpus.py").write_text(script)
    ids = [
        cli("task", "create", "--", sys.executable, "cpus.py", me, other).stdout.strip()
        for me, other in (("a", "b"), ("b", "a"))
    ]
    for task_id in ids:
        assert cli("task", "wait", task_id, "--timeout", "90", check=False).code == 0
    a = set((project.project / "a").read_text().split(","))
    b = set((project.project / "b").read_text().split(","))
    assert len(a) == len(b) == 1
    assert a.isdisjoint(b)
    outer = cli("task", "log", "--outer", ids[0]).stdout
    assert f"(1 core on CPU {a.pop()})" in outer
