"""Detached processes and killing process trees, on both branches of `processes`.

The POSIX branch runs as it is. The Windows branch is run here with the
platform check switched and the two Windows-only creation flags given their
Windows values, so what it asks of `subprocess` and `psutil` is checked on
any machine; the processes it kills are real.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from hipercow_core import processes
from hipercow_testing import wait_until

# Values of the Windows constants (WinBase.h), absent from `subprocess` elsewhere.
CREATE_NEW_PROCESS_GROUP = 0x00000200
DETACHED_PROCESS = 0x00000008
CREATE_NO_WINDOW = 0x08000000

# A leader that starts a sleeping child, prints the child's pid, then sleeps or exits.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
if sys.argv[1] == "stay":
    time.sleep(60)
"""


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Take the Windows branch; returns the process-group signals sent (there should be none)."""
    monkeypatch.setattr(processes, "IS_WINDOWS", True)
    monkeypatch.setattr(
        subprocess, "CREATE_NEW_PROCESS_GROUP", CREATE_NEW_PROCESS_GROUP, raising=False
    )
    monkeypatch.setattr(subprocess, "DETACHED_PROCESS", DETACHED_PROCESS, raising=False)
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: sent.append((pgid, sig)), raising=False)
    return sent


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids a test started; any still alive at the end are killed."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


def tree(started: list[int], leader_stays: bool) -> tuple[subprocess.Popen[str], int]:
    leader = subprocess.Popen(
        [sys.executable, "-c", TREE, "stay" if leader_stays else "go"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert leader.stdout is not None
    child = int(leader.stdout.readline())
    started.extend([leader.pid, child])
    return leader, child


posix_only = pytest.mark.skipif(
    sys.platform == "win32", reason="process groups, sessions and zombies are POSIX"
)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@posix_only
def test_posix_detaches_into_a_new_session() -> None:
    assert processes.detached_popen_kwargs() == {"start_new_session": True}


def test_windows_detaches_with_a_new_group_and_no_console(windows: list[tuple[int, int]]) -> None:
    kwargs = processes.detached_popen_kwargs()
    # No DETACHED_PROCESS: its console children would each open a visible console window.
    assert kwargs == {"creationflags": CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW}


@posix_only
def test_posix_kills_the_group_even_after_its_leader_left(started: list[int]) -> None:
    leader, child = tree(started, leader_stays=False)
    leader.wait(timeout=30)
    assert not gone(child)  # orphaned, but in the leader's group
    processes.kill_tree(leader.pid, grace=5)
    # Nothing was left to wait on: the group was signalled, the orphan dies soon after.
    wait_until(lambda: gone(child), timeout=10)


@posix_only
def test_posix_kills_a_leader_and_its_children(started: list[int]) -> None:
    leader, child = tree(started, leader_stays=True)
    processes.kill_tree(leader.pid, grace=5)
    assert gone(leader.pid) and gone(child)  # kill_tree waited for both


def test_windows_kills_the_tree_process_by_process(
    windows: list[tuple[int, int]], started: list[int]
) -> None:
    leader, child = tree(started, leader_stays=True)
    processes.kill_tree(leader.pid, grace=5)
    assert gone(leader.pid) and gone(child)  # kill_tree waited for both
    assert windows == []  # no process groups on Windows


@posix_only
def test_alive_means_the_same_process_still_running(started: list[int]) -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started.append(process.pid)
    created = psutil.Process(process.pid).create_time()
    assert processes.process_alive(process.pid, created)
    assert processes.process_alive(process.pid, None)
    # The same pid with another start time is another process (pids get reused).
    assert not processes.process_alive(process.pid, created - 100)
    process.kill()
    deadline = time.monotonic() + 10
    while psutil.Process(process.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not processes.process_alive(process.pid, created)  # exited, not yet reaped
    process.wait()
    assert not processes.process_alive(process.pid, created)


def test_no_process_at_all_is_not_alive() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert not processes.process_alive(int(done.stdout), None)


def test_a_reused_pid_is_left_alone(windows: list[tuple[int, int]], started: list[int]) -> None:
    """`task status` of a task whose runner's pid now belongs to someone else kills nothing."""
    leader, child = tree(started, leader_stays=True)
    created = psutil.Process(leader.pid).create_time()
    processes.kill_tree(leader.pid, grace=1, create_time=created - 100)  # another process's time
    assert not gone(leader.pid) and not gone(child)
    processes.kill_tree(leader.pid, grace=5, create_time=created)
    assert gone(leader.pid) and gone(child)


def test_processes_we_may_not_touch_are_skipped(
    windows: list[tuple[int, int]], started: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child that became another user's (or a protected one) stops nothing else being killed."""
    leader, child = tree(started, leader_stays=True)
    real_terminate = psutil.Process.terminate

    def refuse_for_child(self: psutil.Process) -> None:
        if self.pid == child:
            raise psutil.AccessDenied(self.pid)
        real_terminate(self)

    monkeypatch.setattr(psutil.Process, "terminate", refuse_for_child)
    monkeypatch.setattr(psutil.Process, "kill", refuse_for_child)
    processes.kill_tree(leader.pid, grace=1)
    assert gone(leader.pid)
    assert not gone(child)  # refused, and left alone
    monkeypatch.undo()


@pytest.mark.skipif(
    sys.platform != "win32",
    reason="POSIX re-parents orphans to init; Windows keeps their parent pid",
)
def test_windows_finds_the_orphans_of_a_gone_leader(
    windows: list[tuple[int, int]], started: list[int]
) -> None:
    """Windows has no process groups: a dead runner's children are found by their parent pid."""
    leader, child = tree(started, leader_stays=False)
    created = psutil.Process(child).create_time() - 0.5
    leader.wait(timeout=30)
    assert not gone(child)
    processes.kill_tree(leader.pid, grace=5, create_time=created)
    wait_until(lambda: gone(child), timeout=10)
    assert windows == []


def test_windows_stops_the_task_tree_when_told_to_stop(
    windows: list[tuple[int, int]], started: list[int]
) -> None:
    """Windows cannot forward SIGINT (ValueError) and its SIGTERM runs no handler: the tree goes."""
    leader, child = tree(started, leader_stays=True)
    processes.stopper(leader)(signal.SIGINT)  # type: ignore[arg-type]
    assert gone(leader.pid) and gone(child)


@pytest.mark.skipif(sys.platform != "win32", reason="SIGBREAK exists only on Windows")
def test_windows_stops_on_ctrl_break_as_hpc_pack_cancels() -> None:
    assert signal.SIGBREAK in processes.stop_signals()  # type: ignore[attr-defined,unused-ignore]
