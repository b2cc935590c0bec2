"""`bench.py --case slurm-bundle`: 500 trivial tasks on the real Slurm cluster, ours vs submitit.

The baseline for this case is not the earlier hipercow but submitit, the tool
scientists compare us with on Slurm: its `AutoExecutor.map_array` of the same
500 trivial calls on the same partition. Each round runs both, one after the
other (which goes first alternates), and times for each:

- `submit_s`: from starting the user's command to all 500 tasks submitted
  (ours: `hipercow bulk create` returns; submitit: `map_array` returns, and
  also the whole script up to that point, Python start and import included);
- `lag_s`: from the last task's end (ours: the latest `finished` marker;
  submitit: the latest result file) to the waiting command returning
  (`hipercow bundle wait`; `[job.result() for job in jobs]`);
- `total_s`: from starting the submission to the wait returning.

Goals (issue 12): submit ratio <= 1.0, our lag <= 1 s, total ratio <= 1.0.

It holds the Slurm tests' shared access lock (`slurm.cluster.cluster_access`)
for the whole run, so a disruptive test never kills a node under it, and it
never reconfigures the cluster. It is not part of the default run (it needs
root, the cluster and a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / ".bench"
HOME = BENCH_DIR / "slurm-bundle"
SUBMITIT_VERSION = "1.5.4"
SUBMITIT_HOME = BENCH_DIR / f"submitit-{SUBMITIT_VERSION}"
PARTITION = "main"
COUNT = 500
NAME = "slurm-bundle"
GOALS = {"submit": 1.0, "lag": 1.0, "total": 1.0}

# The submitit side, run by the submitit venv's interpreter. It prints one
# JSON line: when map_array returned and when the last result came back.
SUBMITIT_SCRIPT = """\
import json, sys, time
start = time.time()
import submitit

def call(x):
    return x

folder, partition, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
executor.update_parameters(slurm_partition=partition, timeout_min=10)
before = time.time()
jobs = executor.map_array(call, range(count))
submitted = time.time()
results = [job.result() for job in jobs]
done = time.time()
assert results == list(range(count)), "submitit returned wrong results"
print(json.dumps({"start": start, "before_map": before, "submitted": submitted, "done": done}))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    """The caller's environment minus what would point either tool elsewhere."""
    drop = ("HIPERCOW_ROOT", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPYCACHEPREFIX"] = str(BENCH_DIR / "pycache")
    return env


def submitit_python(fresh: bool) -> Path:
    """submitit in its own venv under .bench, installed like the earlier hipercow is."""
    venv = SUBMITIT_HOME / "venv"
    marker = venv / ".bench-installed"
    if fresh and SUBMITIT_HOME.exists():
        shutil.rmtree(SUBMITIT_HOME)
    if not marker.is_file():
        if venv.exists():
            shutil.rmtree(venv)
        SUBMITIT_HOME.mkdir(parents=True, exist_ok=True)
        uv = os.environ.get("UV") or shutil.which("uv")
        if uv is None:
            raise SystemExit("error: uv is needed to install submitit, and is not on PATH")
        log(f"installing submitit=={SUBMITIT_VERSION} into {venv}")
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                f"submitit=={SUBMITIT_VERSION}",
            ],
            check=True,
        )
        marker.write_text(f"submitit=={SUBMITIT_VERSION}\n")
    return venv / "bin" / "python"


def run_ours(work: Path) -> dict[str, float]:
    """One round of ours: init, configure (untimed), bulk create, then bundle wait."""
    hipercow = str(REPO / ".venv" / "bin" / "hipercow")
    env = child_env()
    work.mkdir(parents=True)
    for args in (["init"], ["driver", "configure", "slurm", f"partition={PARTITION}"]):
        subprocess.run([hipercow, *args], cwd=work, env=env, check=True, capture_output=True)
    start = time.time()
    subprocess.run(
        [hipercow, "bulk", "create", "--name", NAME, "--data", f"x=1..{COUNT}", "--", "echo", "@x"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    submitted = time.time()
    waited = subprocess.run(
        [hipercow, "bundle", "wait", NAME, "--timeout", "1200"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    done = time.time()
    if waited.returncode != 0:
        raise SystemExit(f"error: ours' bundle wait failed:\n{waited.stdout}{waited.stderr}")
    last = last_finished_ours(work)
    return {
        "submit_s": submitted - start,
        "lag_s": done - last,
        "total_s": done - start,
    }


def last_finished_ours(work: Path) -> float:
    """The latest `finished` marker time of the bundle's tasks, checking each succeeded."""
    from hipercow_core.bundle_tasks import bundle_task_ids
    from hipercow_core.root import Root
    from hipercow_core.store import read_markers

    root = Root(work)
    ids = bundle_task_ids(root, NAME)
    if len(ids) != COUNT:
        raise SystemExit(f"error: ours made {len(ids)} tasks, not {COUNT}")
    times = []
    for task_id in ids:
        finished = read_markers(root, task_id).finished
        if finished is None or finished.status != "success":
            raise SystemExit(f"error: ours' task {task_id} did not succeed: {finished}")
        times.append(finished.time.timestamp())
    return max(times)


def run_submitit(python: Path, work: Path) -> dict[str, float]:
    """One round of submitit's map_array and result wait, in a script of its own."""
    work.mkdir(parents=True)
    script = work / "submit.py"
    script.write_text(SUBMITIT_SCRIPT)
    start = time.time()
    done_run = subprocess.run(
        [str(python), str(script), str(work / "jobs"), PARTITION, str(COUNT)],
        cwd=work,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done_run.returncode != 0:
        raise SystemExit(f"error: the submitit script failed:\n{done_run.stderr}")
    marks = json.loads(done_run.stdout.strip().splitlines()[-1])
    results = list((work / "jobs").glob("*_result.pkl"))
    if len(results) != COUNT:
        raise SystemExit(f"error: submitit left {len(results)} result files, not {COUNT}")
    last = max(p.stat().st_mtime for p in results)
    return {
        "submit_s": marks["submitted"] - start,
        "map_array_s": marks["submitted"] - marks["before_map"],
        "lag_s": marks["done"] - last,
        "total_s": marks["done"] - start,
    }


def median(rounds: Sequence[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def report(ours: list[dict[str, float]], theirs: list[dict[str, float]]) -> dict[str, Any]:
    submit = median(ours, "submit_s") / median(theirs, "submit_s")
    submit_vs_call = median(ours, "submit_s") / median(theirs, "map_array_s")
    total = median(ours, "total_s") / median(theirs, "total_s")
    lag = median(ours, "lag_s")
    return {
        "submit_ratio": submit,
        "submit_ratio_vs_map_array_call": submit_vs_call,
        "our_lag_s": lag,
        "their_lag_s": median(theirs, "lag_s"),
        "total_ratio": total,
        "passed": {
            "submit": submit <= GOALS["submit"],
            "lag": lag <= GOALS["lag"],
            "total": total <= GOALS["total"],
        },
    }


def table(ours: list[dict[str, float]], theirs: list[dict[str, float]], r: dict[str, Any]) -> str:
    def row(name: str, key: str, goal: str, verdict: bool | None) -> str:
        theirs_cell = f"{median(theirs, key):8.3f}" if key in theirs[0] else f"{'-':>8}"
        mark = "" if verdict is None else ("PASS" if verdict else "FAIL")
        return f"{name:<34} {median(ours, key):8.3f} {theirs_cell}  {goal:<22} {mark}"

    lines = [
        f"slurm-bundle: {COUNT} trivial tasks on partition {PARTITION}, "
        f"median of {len(ours)} rounds (seconds)",
        f"{'metric':<34} {'ours':>8} {'submitit':>8}  {'goal':<22}",
        row(
            "to all submitted (command)",
            "submit_s",
            f"ratio <= 1.0: {r['submit_ratio']:.2f}",
            r["passed"]["submit"],
        ),
        f"{'  submitit map_array call alone':<34} {'':>8} {median(theirs, 'map_array_s'):8.3f}"
        f"  ratio to it: {r['submit_ratio_vs_map_array_call']:.2f}",
        row("wait returns after last finished", "lag_s", "ours <= 1 s", r["passed"]["lag"]),
        row(
            "total (submit to wait returned)",
            "total_s",
            f"ratio <= 1.0: {r['total_ratio']:.2f}",
            r["passed"]["total"],
        ),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.py --case slurm-bundle")
    parser.add_argument("--case", action="append")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="rounds per tool")
    parser.add_argument("--quick", action="store_true", help="one round per tool")
    parser.add_argument("--fresh", action="store_true", help="reinstall submitit")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "slurm-bundle.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rounds under the cluster's shared lock; 0 if every goal passes, else 1."""
    args = parse_args(argv)
    if not (sys.platform.startswith("linux") and os.geteuid() == 0):
        log("error: the Slurm cluster tool needs root on Linux")
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
                    ours.append(run_ours(HOME / f"ours-{n}"))
                    log(f"  {ours[-1]}")
                else:
                    theirs.append(run_submitit(python, HOME / f"submitit-{n}"))
                    log(f"  {theirs[-1]}")
    result = report(ours, theirs)
    save_rounds(args.output, started, load_before, COUNT, ours, theirs, result)
    print(table(ours, theirs, result))
    print(f"\nresults in {args.output}")
    return 0 if all(result["passed"].values()) else 1


def save_rounds(
    output: Path,
    started: datetime,
    load_before: tuple[float, float, float],
    count: int,
    ours: list[dict[str, float]],
    theirs: list[dict[str, float]],
    result: dict[str, Any],
) -> None:
    """Every round of both sides and the verdict as JSON (this case and executor-map alike)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "count": count,
        "partition": PARTITION,
        "submitit": SUBMITIT_VERSION,
        "ours": ours,
        "submitit_rounds": theirs,
        **result,
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
