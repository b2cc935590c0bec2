"""Entry point: `uv run python tools/bench/bench.py [--quick] [--case NAME] [--repeat N]`.

`--case slurm-scale` (opt-in: it needs the Slurm cluster) is one of the harness cases;
`--case workers` runs the worker pool's case (`tools/bench/workers.py`),
`--case slurm-bundle` the Slurm case against submitit (`tools/bench/slurm_bundle.py`),
`--case slurm-10k` 10,000 held tasks' figures, ours alone (`tools/bench/slurm_at_scale.py`),
and `--case executor-map` the executor against submitit's map_array
(`tools/bench/executor_map.py`), each on its own.

Run as a script, Python puts `tools/bench` (not the repository) on sys.path.
The repository root is added so that the harness modules import as
`tools.bench.*`, the names mypy gives them, keeping one spelling for both.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.bench import slurm_bundle
from tools.bench.cases import CASES
from tools.bench.harness import main

if __name__ == "__main__":
    args = sys.argv[1:]
    # The Slurm case has its own baseline (submitit) and metrics, so it has its
    # own runner; it runs only when asked for by name.
    if "slurm-bundle" in args:
        sys.exit(slurm_bundle.main(args))
    if "slurm-10k" in args:
        from tools.bench.slurm_at_scale import main as at_scale_main

        sys.exit(at_scale_main(args))
    if "executor-map" in args:
        from tools.bench.executor_map import main as executor_map_main

        sys.exit(executor_map_main(args))
    if any(a == "workers" and b == "--case" for b, a in itertools.pairwise(args)):
        # The pool's case compares three sides (ours, rq, local) on a real Redis.
        from tools.bench.workers import main as workers_main

        sys.exit(workers_main(args))
    sys.exit(main(CASES))
