"""A task's cores: how many it was given, and telling its libraries so.

Numerical libraries start one thread per CPU they can see unless a variable
says otherwise, so a 2-core task on a 32-core node would run 32 threads and
slow everyone down. The runner works out the cores the task really has (the
scheduler's grant where it states one, else the request) and sets
`HIPERCOW_CORES` and the usual thread-count variables from it, before the
task's own `--env` (which always wins). A task that starts its own processes
says how many threads each should use with `--threads-per-process`; then the
thread variables say that, and `MC_CORES` (R's process count) says how many
such processes fit (without it, `MC_CORES` is all the cores, as for one
process).

The second half is for the task's own Python code (`task_cores`,
`process_pool`): it reads only the variables, so it works in any
interpreter where hipercow_core is importable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hipercow_core.schema import Resources

if TYPE_CHECKING:  # the runner imports this module: it stays light
    from concurrent.futures import ProcessPoolExecutor

#: Thread counts of OpenMP, the BLAS libraries, numexpr, numba, polars and data.table.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "R_DATATABLE_NUM_THREADS",
)
#: R's `parallel` package: how many processes `mclapply` starts.
PROCESS_VARIABLE = "MC_CORES"
CORES_VARIABLE = "HIPERCOW_CORES"
THREADS_VARIABLE = "HIPERCOW_THREADS_PER_PROCESS"
#: The CPUs the local daemon gave a runner ("0,1"); trusted only by a task of the local driver.
LOCAL_CPUS_VARIABLE = "HIPERCOW_LOCAL_CPUS"

#: Where a scheduler states the cores it granted the job.
_GRANTED = {"slurm": "SLURM_CPUS_PER_TASK", "windows-hpc": "CCP_NUMCPUS"}


def parse_cpus(text: str | None) -> list[int]:
    """CPU ids from "0,3,5" (nothing for an empty or malformed value)."""
    try:
        return [int(part) for part in (text or "").split(",") if part.strip()]
    except ValueError:
        return []


def granted_cores(resources: Resources, driver: str | None, environ: Mapping[str, str]) -> int:
    """The cores a task has on this node: the scheduler's grant where it says, else the request.

    Variables of another driver are ignored (a Slurm job's variables reach a
    local task submitted from inside it); a whole-node request is the CPUs
    this process may use.
    """
    if driver == "local":
        cpus = parse_cpus(environ.get(LOCAL_CPUS_VARIABLE))
        if cpus:
            return len(cpus)
    granted = environ.get(_GRANTED.get(driver or "", ""), "")
    if granted.strip().isdigit() and int(granted) >= 1:
        return int(granted)
    if resources.cores == "node":
        from hipercow_core.processes import usable_cpus

        return max(1, len(usable_cpus()))
    return int(resources.cores)


def core_variables(resources: Resources, cores: int) -> dict[str, str]:
    """The variables a task with `cores` gets: `HIPERCOW_CORES`, and the thread counts unless off."""
    result = {CORES_VARIABLE: str(cores)}
    threads = min(resources.threads_per_process or cores, cores)
    processes = cores
    if resources.threads_per_process is not None:
        result[THREADS_VARIABLE] = str(threads)
        processes = max(1, cores // threads)
    if resources.thread_variables:
        result.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
        result[PROCESS_VARIABLE] = str(processes)
    return result


# -- for the task's own code ---------------------------------------------------


def task_cores() -> int:
    """How many cores this task has (`HIPERCOW_CORES`); outside a task, the CPUs usable here."""
    value = os.environ.get(CORES_VARIABLE, "")
    if value.isdigit() and int(value) >= 1:
        return int(value)
    from hipercow_core.processes import usable_cpus

    return max(1, len(usable_cpus()))


def threads_per_process() -> int:
    """Threads each process of the task should use: `--threads-per-process`, else 1."""
    value = os.environ.get(THREADS_VARIABLE, "")
    return int(value) if value.isdigit() and int(value) >= 1 else 1


def process_pool(max_workers: int | None = None, **kwargs: Any) -> ProcessPoolExecutor:
    """A process pool filling the task's cores: one process per `threads_per_process` cores.

    Each worker limits its libraries to that many threads (the variables,
    and threadpoolctl when it is installed, for libraries loaded before the
    worker started), so the pool never runs more threads than the task has
    cores. Other arguments go to `ProcessPoolExecutor`.
    """
    from concurrent.futures import ProcessPoolExecutor

    threads = threads_per_process()
    workers = max_workers or max(1, task_cores() // threads)
    return ProcessPoolExecutor(
        max_workers=workers, initializer=limit_threads, initargs=(threads,), **kwargs
    )


_limits: list[object] = []


def limit_threads(threads: int) -> None:
    """Limit this process's numerical libraries to `threads` threads (a pool worker's start)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _limits.append(threadpool_limits(limits=threads))
