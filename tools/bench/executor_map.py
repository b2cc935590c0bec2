"""`bench.py --case executor-map`: `HipercowExecutor.map` of 500 trivial calls vs submitit's `map_array`.

Both sides are the same kind of user script, run by its own interpreter: it
imports its tool, defines `call(x)` in `__main__`, maps it over 500 inputs
on partition `main` of the real Slurm cluster, and collects every result.
Each round runs both, one after the other (which goes first alternates),
and times for each, from the script's start (Python start and import
included):

- `submit_s`: until the map call returned, i.e. all 500 tasks submitted
  (ours: `executor.map` returns after one bundle in one submission);
- `total_s`: until every result was in hand (`list(results)`;
  `[job.result() for job in jobs]`).

Goals (issue 15): submit ratio <= 1.0 and total ratio <= 1.0, ours / submitit.

Like `slurm-bundle`, it holds the Slurm tests' shared lock for the whole run
and never reconfigures the cluster; it is run only when named. `--dry-run`
runs only our side, on the `local` driver with 20 calls, once, to check the
code path on a machine without the cluster (no goal is judged).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.bench.slurm_bundle import (
    BENCH_DIR,
    PARTITION,
    REPO,
    SUBMITIT_SCRIPT,
    child_env,
    log,
    save_rounds,
    submitit_python,
)

HOME = BENCH_DIR / "executor-map"
COUNT = 500
DRY_RUN_COUNT = 20
GOALS = {"submit": 1.0, "total": 1.0}

# Our side, run by the workspace's interpreter in a configured root. It
# prints one JSON line with the same marks as the submitit script.
OURS_SCRIPT = """\
import json, sys, time
start = time.time()
from hipercow_core import HipercowExecutor

def call(x):
    return x

count = int(sys.argv[1])
with HipercowExecutor(max_runtime="10m") as executor:
    before = time.time()
    results = executor.map(call, range(count), name="executor-map")
    submitted = time.time()
    values = list(results)
    done = time.time()
assert values == list(range(count)), "hipercow returned wrong results"
print(json.dumps({"start": start, "before_map": before, "submitted": submitted, "done": done}))
"""


def run_script(python: Path, script: Path, args: Sequence[str], cwd: Path) -> dict[str, float]:
    """Run one side's script; its marks as seconds from the script's start (process start)."""
    import time

    started = time.time()
    done = subprocess.run(
        [str(python), str(script), *args],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"error: {script.name} failed:\n{done.stdout}{done.stderr}")
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "submit_s": marks["submitted"] - started,
        "map_call_s": marks["submitted"] - marks["before_map"],
        "total_s": marks["done"] - started,
    }


def run_ours(work: Path, driver: str, count: int) -> dict[str, float]:
    """One round of ours: a fresh root configured for the driver (untimed), then the script."""
    hipercow = str(REPO / ".venv" / "bin" / "hipercow")
    work.mkdir(parents=True)
    configure = ["driver", "configure", driver]
    if driver == "slurm":
        configure.append(f"partition={PARTITION}")
    for args in (["init"], configure):
        subprocess.run(
            [hipercow, *args], cwd=work, env=child_env(), check=True, capture_output=True
        )
    script = work / "sweep.py"
    script.write_text(OURS_SCRIPT)
    return run_script(REPO / ".venv" / "bin" / "python", script, [str(count)], work)


def run_submitit(python: Path, work: Path) -> dict[str, float]:
    """One round of submitit's map_array and result wait (the slurm-bundle case's script)."""
    work.mkdir(parents=True)
    script = work / "submit.py"
    script.write_text(SUBMITIT_SCRIPT)
    marks = run_script(python, script, [str(work / "jobs"), PARTITION, str(COUNT)], work)
    results = list((work / "jobs").glob("*_result.pkl"))
    if len(results) != COUNT:
        raise SystemExit(f"error: submitit left {len(results)} result files, not {COUNT}")
    return marks


def median(rounds: Sequence[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def report(ours: list[dict[str, float]], theirs: list[dict[str, float]]) -> dict[str, Any]:
    submit = median(ours, "submit_s") / median(theirs, "submit_s")
    total = median(ours, "total_s") / median(theirs, "total_s")
    return {
        "submit_ratio": submit,
        "map_call_ratio": median(ours, "map_call_s") / median(theirs, "map_call_s"),
        "total_ratio": total,
        "passed": {"submit": submit <= GOALS["submit"], "total": total <= GOALS["total"]},
    }


def table(ours: list[dict[str, float]], theirs: list[dict[str, float]], r: dict[str, Any]) -> str:
    def row(name: str, key: str, goal: str, verdict: bool | None) -> str:
        mark = "" if verdict is None else ("PASS" if verdict else "FAIL")
        return f"{name:<32} {median(ours, key):8.3f} {median(theirs, key):8.3f}  {goal:<22} {mark}"

    return "\n".join(
        [
            f"executor-map: {COUNT} trivial calls on partition {PARTITION}, "
            f"median of {len(ours)} rounds (seconds)",
            f"{'metric':<32} {'ours':>8} {'submitit':>8}  {'goal':<22}",
            row(
                "to all submitted (script)",
                "submit_s",
                f"ratio <= 1.0: {r['submit_ratio']:.2f}",
                r["passed"]["submit"],
            ),
            row("  the map call alone", "map_call_s", f"ratio: {r['map_call_ratio']:.2f}", None),
            row(
                "to all results (script)",
                "total_s",
                f"ratio <= 1.0: {r['total_ratio']:.2f}",
                r["passed"]["total"],
            ),
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.py --case executor-map")
    parser.add_argument("--case", action="append")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="rounds per tool")
    parser.add_argument("--quick", action="store_true", help="one round per tool")
    parser.add_argument("--fresh", action="store_true", help="reinstall submitit")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help=f"only ours, on the local driver, {DRY_RUN_COUNT} calls (checks the code path)",
    )
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "executor-map.json")
    return parser.parse_args(argv)


def dry_run() -> int:
    if HOME.exists():
        shutil.rmtree(HOME)
    marks = run_ours(HOME / "dry-run", "local", DRY_RUN_COUNT)
    print(
        f"executor-map dry run: {DRY_RUN_COUNT} calls on the local driver: "
        f"submitted after {marks['submit_s']:.3f} s (map call {marks['map_call_s']:.3f} s), "
        f"all results after {marks['total_s']:.3f} s; no goal judged"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rounds under the cluster's shared lock; 0 if every goal passes, else 1."""
    args = parse_args(argv)
    if args.dry_run:
        return dry_run()
    if not (sys.platform.startswith("linux") and os.geteuid() == 0):
        log("error: the Slurm cluster tool needs root on Linux (--dry-run runs on local)")
        return 2
    rounds = 1 if args.quick else args.repeat
    python = submitit_python(args.fresh)
    sys.path.insert(0, str(REPO / "tests"))
    from slurm.cluster import cluster_access  # the Slurm tests' own lock

    if HOME.exists():
        shutil.rmtree(HOME)
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    with cluster_access(exclusive=False):
        for n in range(rounds):
            order = ("ours", "theirs") if n % 2 == 0 else ("theirs", "ours")
            for side in order:
                log(f"round {n + 1}/{rounds}: {side}")
                if side == "ours":
                    ours.append(run_ours(HOME / f"ours-{n}", "slurm", COUNT))
                    log(f"  {ours[-1]}")
                else:
                    theirs.append(run_submitit(python, HOME / f"submitit-{n}"))
                    log(f"  {theirs[-1]}")
    result = report(ours, theirs)
    save_rounds(args.output, started, load_before, COUNT, ours, theirs, result)
    print(table(ours, theirs, result))
    print(f"\nresults in {args.output}")
    return 0 if all(result["passed"].values()) else 1
