"""The usage meter on both branches of `processes`: POSIX's count of reaped children, or sampling alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hipercow_core import processes
from hipercow_core.usage import UsageMeter, cpu_share, total

# 200 MB resident for a while, and 1.5 s of CPU.
WORK = (
    "import time\n"
    "block = b'x' * 200_000_000\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < 1.5: pass\n"
)


@pytest.mark.parametrize("branch", ["posix", "windows"])
def test_the_meter_sees_cpu_and_peak_memory(branch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if branch == "posix" and processes.IS_WINDOWS:
        pytest.skip("no POSIX branch on Windows")
    monkeypatch.setattr(processes, "IS_WINDOWS", branch == "windows")
    child = subprocess.Popen([sys.executable, "-c", WORK])
    meter = UsageMeter(child.pid, cores=2)
    child.wait()
    usage = meter.stop()
    assert usage.peak_memory >= 200_000_000
    # sampling alone misses the last moments before the process ends
    assert usage.cpu_seconds >= (1.45 if branch == "posix" else 1.0)
    assert usage.wall_seconds >= usage.cpu_seconds * 0.9
    assert usage.cores == 2
    share = cpu_share(usage)
    assert share is not None and 0 < share <= 0.55  # a busy machine stretches the wall time
    summed = total([usage, None, usage])
    assert summed.tasks == 2 and summed.peak_memory == usage.peak_memory
    assert summed.cpu_seconds == pytest.approx(2 * usage.cpu_seconds)
