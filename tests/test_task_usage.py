"""The runner records what a task used: CPU of its whole process tree, peak memory, wall time."""

from __future__ import annotations

import json
import sys

from hipercow_core.root import Root
from hipercow_testing import Cli

# 300 MB written (so resident), then 2 s of CPU in a child process (the tree counts).
BURN = (
    "import subprocess, sys, time\n"
    "block = b'x' * 300_000_000\n"
    "spin = 'import time\\nt = time.process_time()\\nwhile time.process_time() - t < 1.0: pass'\n"
    "subprocess.run([sys.executable, '-c', spin], check=True)\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < 1.0: pass\n"
)


def test_usage_of_a_task_is_recorded_and_shown(cli: Cli, project: Root) -> None:
    (project.project / "burn.py").write_text(BURN)
    created = cli(
        "task",
        "create",
        "--wait",
        "--memory-per-task",
        "1G",
        "--",
        sys.executable,
        "burn.py",
        check=False,
    )
    assert created.code == 0, created.output
    task_id = created.stdout.strip().splitlines()[0]
    usage = json.loads(cli("task", "info", "--json", task_id).stdout)["usage"]
    assert usage["peak_memory"] >= 300_000_000
    assert usage["cpu_seconds"] >= 1.8
    assert usage["user_seconds"] + usage["system_seconds"] >= 1.8
    assert usage["wall_seconds"] >= 1.8
    assert usage["cores"] == 1
    line = next(x for x in cli("task", "info", task_id).stdout.splitlines() if "usage" in x)
    assert " of 1 core), peak memory " in line
    assert line.strip().startswith("usage  CPU ")
    assert line.endswith("of 1.0 GB requested")
    finished = json.loads((project.task_dir(task_id) / "finished.json").read_text())
    assert finished["usage"] == usage


def test_bundle_status_usage_gives_each_task_and_the_totals(cli: Cli) -> None:
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < @s: pass"
    cli("bulk", "create", "--name", "burns", "--data", "s=0.5,1", "--", sys.executable, "-c", spin)
    assert cli("bundle", "wait", "burns", check=False).code == 0
    shown = json.loads(cli("bundle", "status", "burns", "--usage", "--json").stdout)
    cpu = [t["usage"]["cpu_seconds"] for t in shown["tasks"]]
    assert cpu[0] >= 0.45 and cpu[1] >= 0.95
    assert shown["total"]["tasks"] == 2
    assert abs(shown["total"]["cpu_seconds"] - sum(cpu)) < 0.01
    table = cli("bundle", "status", "burns", "--usage").stdout.splitlines()
    assert table[0].split() == [
        "task",
        "status",
        "CPU",
        "wall",
        "cores",
        "CPU",
        "%",
        "peak",
        "memory",
    ]
    assert len(table) == 4
    assert table[3].startswith("total (2 tasks measured)")
