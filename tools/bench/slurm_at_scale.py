"""`bench.py --case slurm-10k`: 10,000 held tasks on the real Slurm cluster, ours alone.

submitit cannot be the baseline here (it does not split arrays, and one
array holds at most 1,000 on this cluster), so this case reports figures,
not ratios (issue 21 asks for them in the session's note):

- `submit_s`: `hipercow bulk create --hold-until 2h` of COUNT tasks, from the
  command's start to its return (all of them submitted, as several arrays);
- `poll_s`: one `hipercow bundle status NAME --summary counts` with the
  saved squeue answer removed first, so it reads every task's files and asks
  Slurm once;
- `squeue_s` and `squeue_bytes`: that one squeue on its own (the driver's own
  arguments), its time and the size of its answer.

Each round uses a fresh root and cancels its jobs afterwards (untimed). It
runs under `slurm_scale.cluster_alone`: the cluster to itself, MaxJobCount
raised, the shipped configuration put back at the end. Results go to
`.bench/slurm-10k.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sh

from tools.bench.harness import BENCH_DIR, REPO, log
from tools.bench.slurm_bundle import child_env
from tools.bench.slurm_scale import cancel_jobs_under, cluster_alone

COUNT = 10_000
NAME = "big"
HIPERCOW = REPO / ".venv" / "bin" / "hipercow"
RESULTS = BENCH_DIR / "slurm-10k.json"


def hipercow(work: Path, *args: str) -> float:
    """Run one command in the project; its wall time in seconds (it must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(HIPERCOW), *args],
        cwd=work,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"error: hipercow {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return elapsed


def one_squeue() -> tuple[float, int]:
    """The driver's own squeue of this user's jobs: its time and the bytes it answered."""
    from hipercow_slurm.parsing import SQUEUE_FORMAT

    args = ["--noheader", "--me", "--array", "--states=all", f"--Format={SQUEUE_FORMAT}"]
    started = time.perf_counter()
    out = sh.squeue(*args, _timeout=300, _return_cmd=True)
    return time.perf_counter() - started, len(out.stdout)


def one_round(work: Path, count: int) -> dict[str, float]:
    hipercow(work, "init")
    hipercow(work, "driver", "configure", "slurm", "partition=main")
    data = f"x=1..{count}"
    try:
        submit = hipercow(
            work, "bulk", "create", "--max-tasks", str(count), "--hold-until", "2h",
            "--name", NAME, "--data", data, "--", "echo", "@x",
        )  # fmt: skip
        for saved in work.glob("hipercow/cache/*/slurm-queue.json"):
            saved.unlink()
        poll = hipercow(work, "bundle", "status", NAME, "--summary", "counts")
        squeue_s, squeue_bytes = one_squeue()
    finally:
        cancel_jobs_under(work)
    return {
        "submit_s": submit,
        "poll_s": poll,
        "squeue_s": squeue_s,
        "squeue_bytes": float(squeue_bytes),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py --case slurm-10k")
    parser.add_argument("--case")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--count", type=int, default=COUNT)
    args = parser.parse_args(argv)
    rounds = []
    with cluster_alone():
        for number in range(args.repeat):
            work = BENCH_DIR / "slurm-10k" / f"round-{number}"
            if work.exists():
                sh.rm("-rf", str(work))
            work.mkdir(parents=True)
            rounds.append(one_round(work, args.count))
            log(f"[slurm-10k] round {number + 1}: {json.dumps(rounds[-1])}")
    summary = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    RESULTS.write_text(json.dumps({"count": args.count, "rounds": rounds, "median": summary}))
    print(
        f"{args.count:,} held tasks: submitted in {summary['submit_s']:.2f} s; one status poll"
        f" {summary['poll_s']:.2f} s, of which squeue {summary['squeue_s']:.2f} s answering"
        f" {summary['squeue_bytes'] / 1e6:.2f} MB (median of {len(rounds)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
