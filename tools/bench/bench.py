"""Entry point: `uv run python tools/bench/bench.py [--quick] [--case NAME] [--repeat N]`.

Run as a script, Python puts `tools/bench` (not the repository) on sys.path.
The repository root is added so that the harness modules import as
`tools.bench.*`, the names mypy gives them, keeping one spelling for both.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.bench import slurm_bundle
from tools.bench.cases import CASES
from tools.bench.harness import main

if __name__ == "__main__":
    # The Slurm case has its own baseline (submitit) and metrics, so it has its
    # own runner; it runs only when asked for by name.
    if "slurm-bundle" in sys.argv[1:]:
        sys.exit(slurm_bundle.main(sys.argv[1:]))
    sys.exit(main(CASES))
