"""The `workers` case: the worker pool against rq's SimpleWorker and against the local driver.

`uv run python tools/bench/bench.py --case workers [--repeat N] [--quick]`

Three sides, alternated in one run against one real redis-server (started
here on a free loopback port, stopped at the end):

- ours/workers: `hipercow bulk call bench_fn:ident --data x=1..1000 --driver
  workers`, then `hipercow worker start 2 --no-wait`, then `hipercow bundle
  wait`: from the first command to the last result, worker start-up included;
- rq: the same 1,000 calls of the same function enqueued in one pipeline,
  then two `rq worker --burst --worker-class rq.worker.SimpleWorker`
  processes, until both have drained the queue and every result is read;
- ours/local: the same bundle of calls through the `local` driver (200 calls:
  one runner process per task makes 1,000 too slow to repeat).

Throughput is tasks per second from start to the last result; goals are
ours/rq >= 1.0 and ours-workers/ours-local >= 25. The peak memory of each
worker process (and of its executor) is sampled with psutil during the runs;
the goal is < 100 MB each. Results go to `.bench/workers.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tools.bench.harness import BENCH_DIR, REPO, log

sys.path.insert(0, str(REPO / "tests"))
from redis_testing import RedisServer

BIN = REPO / ".venv" / "bin"
CALLS = 1000
LOCAL_CALLS = 200
WORKERS = 2
GOAL_RQ = 1.0
GOAL_LOCAL = 25.0
GOAL_RSS_MB = 100.0
FUNCTION = "def ident(x):\n    return x\n"
RESULTS = BENCH_DIR / "workers.json"

RQ_SCRIPT = """
import subprocess, sys, time
from redis import Redis
from rq import Queue
from bench_fn import ident

url, count, workers, rq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
redis = Redis.from_url(url)
redis.flushdb()
queue = Queue("bench", connection=redis)
start = time.perf_counter()
jobs = queue.enqueue_many([Queue.prepare_data(ident, (i,)) for i in range(count)])
procs = [
    subprocess.Popen([rq, "worker", "--burst", "--url", url, "--quiet",
                      "--worker-class", "rq.worker.SimpleWorker", "bench"])
    for _ in range(workers)
]
for p in procs:
    p.wait()
values = [job.latest_result().return_value for job in jobs]
elapsed = time.perf_counter() - start
assert values == list(range(count)), "rq lost results"
print(elapsed)
"""


@dataclass
class Peak:
    """The largest resident set seen per kind of process (worker, executor), in MB."""

    worker: float = 0.0
    executor: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self, project: Path) -> None:
        """Find the project's workers (a scan every 0.5 s), then watch only them and their children.

        Scanning every process often would itself load this 2-core machine.
        """
        marker = str(project)
        workers: list[psutil.Process] = []
        while not self.stop.wait(0.1 if len(workers) == WORKERS else 0.5):
            if len(workers) < WORKERS:
                workers = [
                    p
                    for p in psutil.process_iter(["cmdline", "cwd"])
                    if "hipercow_workers.worker" in " ".join(p.info["cmdline"] or [])
                    and (p.info["cwd"] or "").startswith(marker)
                ]
            for worker in workers:
                try:
                    self.worker = max(self.worker, worker.memory_info().rss / 1e6)
                    for child in worker.children():
                        self.executor = max(self.executor, child.memory_info().rss / 1e6)
                except psutil.Error:
                    continue


def hipercow(project: Path, *args: str, timeout: float = 900) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(BENCH_DIR / "pycache")
    done = subprocess.run(
        [str(BIN / "hipercow"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"hipercow {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def new_project(name: str, redis_url: str | None) -> Path:
    project = BENCH_DIR / "workers" / name
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    (project / "bench_fn.py").write_text(FUNCTION)
    hipercow(project, "init", ".")
    hipercow(project, "driver", "configure", "local")
    if redis_url is not None:
        hipercow(project, "driver", "configure", "workers", f"redis_url={redis_url}", "heartbeat=1")
    return project


def wait_workers_exited(project: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = json.loads(hipercow(project, "worker", "status", "--json"))
        if all(r["state"] in ("exited", "lost") for r in rows):
            return
        time.sleep(0.2)


def run_ours(redis: RedisServer, round_: int, peak: Peak, phases: list[dict[str, float]]) -> float:
    """One round of ours; the seconds each command took go to `phases` (where time goes)."""
    project = new_project(f"ours-{round_}", redis.url)
    sampler = threading.Thread(target=peak.sample, args=(project,), daemon=True)
    sampler.start()
    try:
        start = time.perf_counter()
        hipercow(
            project, "bulk", "call", "bench_fn:ident", "--data", f"x=1..{CALLS}",
            "--name", "b", "--driver", "workers",
        )  # fmt: skip
        submitted = time.perf_counter()
        hipercow(project, "worker", "start", str(WORKERS), "--idle-timeout", "1s", "--no-wait")
        started = time.perf_counter()
        hipercow(project, "bundle", "wait", "b", "--timeout", "600")
        elapsed = time.perf_counter() - start
        phases.append(
            {
                "bulk_call": round(submitted - start, 2),
                "worker_start": round(started - submitted, 2),
                "until_last_result": round(start + elapsed - started, 2),
            }
        )
    finally:
        wait_workers_exited(project)
        peak.stop.set()
        sampler.join()
        peak.stop.clear()
    values = [r["value"] for r in json.loads(hipercow(project, "bundle", "result", "b", "--json"))]
    assert values == list(range(1, CALLS + 1)), "ours lost results"
    return CALLS / elapsed


def run_rq(redis: RedisServer) -> float:
    project = BENCH_DIR / "workers" / "rq"
    project.mkdir(parents=True, exist_ok=True)
    (project / "bench_fn.py").write_text(FUNCTION)
    done = subprocess.run(
        [
            str(BIN / "python"),
            "-c",
            RQ_SCRIPT,
            redis.url,
            str(CALLS),
            str(WORKERS),
            str(BIN / "rq"),
        ],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the rq run failed: {done.stderr[-2000:]}")
    return CALLS / float(done.stdout.split()[-1])


def run_local(round_: int) -> float:
    project = new_project(f"local-{round_}", None)
    start = time.perf_counter()
    hipercow(
        project, "bulk", "call", "bench_fn:ident", "--data", f"x=1..{LOCAL_CALLS}",
        "--name", "b", "--driver", "local",
    )  # fmt: skip
    hipercow(project, "bundle", "wait", "b", "--timeout", "900")
    return LOCAL_CALLS / (time.perf_counter() - start)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py --case workers")
    parser.add_argument("--case", action="append")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--local-repeat", type=int, default=1)
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    load_before = os.getloadavg()
    redis = RedisServer(BENCH_DIR / "workers" / "redis")
    ours: list[float] = []
    rq: list[float] = []
    local: list[float] = []
    phases: list[dict[str, float]] = []
    peak = Peak()
    try:
        for i in range(repeat):
            order = ("ours", "rq") if i % 2 == 0 else ("rq", "ours")
            for side in order:
                if side == "ours":
                    ours.append(run_ours(redis, i, peak, phases))
                else:
                    rq.append(run_rq(redis))
            log(
                f"[workers] {i + 1}/{repeat}  ours {ours[-1]:.0f}/s  rq {rq[-1]:.0f}/s"
                f"  ratio {ours[-1] / rq[-1]:.2f}  load {os.getloadavg()[0]:.1f}"
            )
        for i in range(args.local_repeat):
            local.append(run_local(i))
            log(f"[workers] local {local[-1]:.1f}/s")
    finally:
        redis.stop()
    ours_m, rq_m, local_m = (statistics.median(x) for x in (ours, rq, local))
    verdicts = {
        "ours/rq": (ours_m / rq_m, GOAL_RQ),
        "ours/local": (ours_m / local_m, GOAL_LOCAL),
    }
    report: dict[str, Any] = {
        "calls": CALLS,
        "local_calls": LOCAL_CALLS,
        "workers": WORKERS,
        "throughput_per_s": {"ours": ours, "rq": rq, "local": local},
        "medians": {"ours": ours_m, "rq": rq_m, "local": local_m},
        "round_ratios": [round(o / r, 3) for o, r in zip(ours, rq, strict=True)],
        "ours_phases_s": phases,
        "ratios": {k: round(v, 3) for k, (v, _) in verdicts.items()},
        "peak_rss_mb": {"worker": round(peak.worker, 1), "executor": round(peak.executor, 1)},
        "load": {"before": load_before, "after": os.getloadavg()},
    }
    passed = all(v >= goal for v, goal in verdicts.values()) and (
        max(peak.worker, peak.executor) < GOAL_RSS_MB
    )
    report["passed"] = passed
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"workers: ours {ours_m:.0f} tasks/s, rq SimpleWorker {rq_m:.0f}/s, local {local_m:.1f}/s"
    )
    for name, (value, goal) in verdicts.items():
        print(f"  {name:<11} {value:7.2f}  goal >= {goal:g}  {'PASS' if value >= goal else 'FAIL'}")
    rss = max(peak.worker, peak.executor)
    print(
        f"  peak RSS    worker {peak.worker:.0f} MB, executor {peak.executor:.0f} MB  "
        f"goal < {GOAL_RSS_MB:g} MB  {'PASS' if rss < GOAL_RSS_MB else 'FAIL'}"
    )
    print(f"results in {RESULTS}; load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    return 0 if passed else 1
