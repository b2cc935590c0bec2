"""The few things that differ between POSIX and Windows, kept in one place.

Starting a process that outlives its parent, killing a whole process tree,
stopping a task when the runner is told to stop, and what a task's
environment needs for UTF-8 output are done differently on each;
everything else in core is portable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

IS_WINDOWS = sys.platform == "win32"

# Process creation flags (WinBase.h); `subprocess` has them only on Windows.
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000
CREATE_BREAKAWAY_FROM_JOB = 0x01000000

#: cmd.exe's own commands: no program of that name exists, so they run through cmd.
CMD_BUILTINS = frozenset(
    [
        "assoc",
        "break",
        "call",
        "cd",
        "chdir",
        "cls",
        "color",
        "copy",
        "date",
        "del",
        "dir",
        "echo",
        "erase",
        "ftype",
        "md",
        "mkdir",
        "mklink",
        "move",
        "path",
        "pause",
        "popd",
        "pushd",
        "rd",
        "ren",
        "rename",
        "rmdir",
        "set",
        "start",
        "time",
        "title",
        "type",
        "ver",
        "vol",
    ]
)


def detached_popen_kwargs(*, breakaway: bool = False) -> dict[str, Any]:
    """Popen arguments for a process in its own group, surviving its parent.

    On Windows the process gets no console window (a console child of a
    `DETACHED_PROCESS` would open a visible one each, and closing it kills the
    task) and its own process group, so Ctrl-Break reaches it alone.
    `breakaway` also leaves the starter's job object, which a terminal or SSH
    session closes (killing its members) when it ends.
    """
    if IS_WINDOWS:
        flags = CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW
        return {"creationflags": flags | (CREATE_BREAKAWAY_FROM_JOB if breakaway else 0)}
    return {"start_new_session": True}


def start_detached(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a process that outlives this one and this session (the local daemon).

    A job that forbids breaking away refuses the flag (access denied); then the
    process starts inside the job, the best that is allowed.
    """
    try:
        return subprocess.Popen(args, **kwargs, **detached_popen_kwargs(breakaway=IS_WINDOWS))
    except PermissionError:
        if not IS_WINDOWS:
            raise
        return subprocess.Popen(args, **kwargs, **detached_popen_kwargs())


def _same_start(create_time: float, expected: float | None) -> bool:
    return expected is None or abs(create_time - expected) < 1.0


def kill_tree(pid: int, grace: float = 2.0, create_time: float | None = None) -> None:
    """Stop a process and everything it started: politely, then by force.

    With `create_time`, a live process under `pid` that started at another
    time is someone else's (the pid was reused) and is left alone. On POSIX the
    runner leads its own process group, so the group is signalled even when the
    leader is already gone; on Windows a gone leader's orphans are found by
    their parent pid, started after it. Processes we may not touch are skipped.
    """
    import psutil

    members: list[psutil.Process] = []
    leader_is_ours = True
    try:
        leader = psutil.Process(pid)
        if not _same_start(leader.create_time(), create_time):
            leader_is_ours = False
        else:
            members = [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        if IS_WINDOWS and create_time is not None:
            members = orphans_of(pid, create_time)
    except psutil.AccessDenied:
        return
    if not leader_is_ours:
        return
    _signal_group(pid, signal.SIGTERM)
    for process in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process.terminate()
    _, alive = psutil.wait_procs(members, timeout=grace)
    _signal_group(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process.kill()
    psutil.wait_procs(alive, timeout=grace)


def orphans_of(pid: int, create_time: float) -> list[Any]:
    """Processes whose parent was `pid` (gone) and which started after it, with their children.

    Windows keeps a process's parent pid after the parent exits; one started
    before that parent cannot be its child (the pid was reused since).
    """
    import psutil

    found: list[psutil.Process] = []
    for process in psutil.process_iter(["ppid", "create_time"]):
        if process.info["ppid"] == pid and process.info["create_time"] >= create_time - 1.0:
            found.append(process)
            with contextlib.suppress(psutil.Error):
                found.extend(process.children(recursive=True))
    return found


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
        return _same_start(process.create_time(), create_time)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return create_time is None


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


def stop_signals() -> tuple[int, ...]:
    """The signals that tell a runner to stop: SIGBREAK is HPC Pack's cancel (Ctrl-Break)."""
    if IS_WINDOWS:
        return (signal.SIGTERM, signal.SIGINT, signal.SIGBREAK)  # type: ignore[attr-defined,unused-ignore]
    return (signal.SIGTERM, signal.SIGINT)


def stopper(process: subprocess.Popen[bytes]) -> Callable[[int], None]:
    """How to pass a stop signal on to the task.

    POSIX forwards the signal itself. Windows cannot send SIGINT to another
    process (ValueError) and its SIGTERM is TerminateProcess, which no handler
    sees, so there the task's whole tree is stopped instead.
    """
    if IS_WINDOWS:
        return lambda _signum: kill_tree(process.pid, grace=1.0)
    return process.send_signal


def contain_own_tree() -> bool:
    """Put this process (a runner) and all it will start in a job that dies with it.

    Windows keeps a dead parent's children running with nothing to find
    them by; a job object closed when its runner exits (or is killed) kills
    them. True when that worked. POSIX needs none: the runner leads a group.
    """
    if not IS_WINDOWS:
        return False
    from hipercow_core import winjobs

    return winjobs.kill_with_this_process()


def task_environment_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """What every task's environment gets unless the user set it: UTF-8 for Python's I/O.

    Python on Windows writes cp1252 to files and pipes, so a task's `print('✓')`
    into its log fails; `PYTHONUTF8=1` makes it UTF-8, unless the user chose
    an encoding (`PYTHONUTF8` or `PYTHONIOENCODING` of their own).
    """
    result = dict(env)
    if "PYTHONUTF8" not in result and "PYTHONIOENCODING" not in result:
        result["PYTHONUTF8"] = "1"
    result.setdefault("PYTHONUNBUFFERED", "1")
    return result


def runnable_command(command: Sequence[str]) -> list[str]:
    """The command to start: on Windows a cmd.exe built-in (`dir`, `echo`) runs through cmd."""
    args = list(command)
    if IS_WINDOWS and args and args[0].lower() in CMD_BUILTINS and shutil.which(args[0]) is None:
        return ["cmd.exe", "/d", "/c", *args]
    return args


#: Flags every `os.open` of ours adds: never follow a link planted in the root, and
#: binary mode (Windows opens text mode by default, writing "\r\n" for each "\n").
OPEN_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
