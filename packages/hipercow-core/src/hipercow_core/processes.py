"""The few things that differ between POSIX and Windows, kept in one place.

Starting a process that outlives its parent, and killing a whole process
tree, are done differently on each; everything else in core is portable.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import Any, NamedTuple

IS_WINDOWS = sys.platform == "win32"


def detached_popen_kwargs() -> dict[str, Any]:
    """Popen arguments for a process in its own group, surviving its parent."""
    if IS_WINDOWS:
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS  # type: ignore[attr-defined,unused-ignore]
        return {"creationflags": flags}
    return {"start_new_session": True}


def kill_tree(pid: int, grace: float = 2.0, create_time: float | None = None) -> None:
    """Stop a process and everything it started: politely, then by force.

    On POSIX the runner leads its own process group, so the group is signalled
    even when the leader is already gone and its children were orphaned.
    With `create_time`, a live process under `pid` that started at another
    time is someone else's (the pid was reused) and is left alone.
    """
    import psutil

    try:
        leader = psutil.Process(pid)
        if create_time is not None and abs(leader.create_time() - create_time) >= 1.0:
            return
        members = [leader, *leader.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        members = []
    _signal_group(pid, signal.SIGTERM)
    for process in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(members, timeout=grace)
    _signal_group(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=grace)


def _signal_group(pgid: int, sig: int) -> None:
    if IS_WINDOWS:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def process_alive(pid: int, create_time: float | None) -> bool:
    """Whether `pid` is still the process we started (pids get reused)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(process.create_time() - create_time) < 1.0
    except psutil.NoSuchProcess:
        return False


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity), or all of them where that is not known."""
    if IS_WINDOWS:
        import psutil

        with contextlib.suppress(psutil.Error, AttributeError):
            return sorted(psutil.Process().cpu_affinity() or [])
    elif hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pin_to_cpus(cpus: list[int]) -> bool:
    """Keep this process (and what it starts, which inherits it) on these CPUs; False if it cannot.

    Linux has `sched_setaffinity`; Windows sets the same through psutil;
    elsewhere (macOS) there is no affinity to set and the task shares every CPU.
    """
    if IS_WINDOWS:
        import psutil

        try:
            psutil.Process().cpu_affinity(cpus)
        except (psutil.Error, AttributeError, ValueError):
            return False
        return True
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            return False
        return True
    return False


def unpin() -> None:
    """Widen this process's affinity to every CPU (a daemon started from inside a pinned task)."""
    pin_to_cpus(list(range(os.cpu_count() or 1)))


class ChildTimes(NamedTuple):
    """What the operating system counted for this process's waited-for children."""

    user: float
    system: float
    max_rss: int  # bytes, of the largest single child


def children_times() -> ChildTimes | None:
    """CPU times and largest memory of every child (and their waited-for children) so far.

    POSIX counts these when a child is reaped, so it sees even processes too
    short for a sampler; Windows has no such count (None), and usage there
    comes from sampling alone.
    """
    if IS_WINDOWS:
        return None
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    scale = 1 if sys.platform == "darwin" else 1024  # macOS counts bytes, Linux kilobytes
    return ChildTimes(used.ru_utime, used.ru_stime, used.ru_maxrss * scale)
