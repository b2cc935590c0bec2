"""`python submitit_map_array.py FOLDER COUNT`: submitit's way to send COUNT tasks to Slurm.

Run by the `slurm-scale` benchmark with submitit's own interpreter (its venv
under .bench), as a submitit user would write it: one executor, one
`map_array` call, which pickles each call and submits one job array. The
jobs are held (`--begin` two hours on) so that only submitting is timed;
the harness cancels them afterwards.
"""

from __future__ import annotations

import sys

import submitit  # type: ignore[import-not-found,unused-ignore]


def identity(x: int) -> int:
    """The task: never runs here (the jobs are held and then cancelled)."""
    return x


def main() -> None:
    folder, count = sys.argv[1], int(sys.argv[2])
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(
        slurm_partition="main",
        timeout_min=10,
        slurm_additional_parameters={"begin": "now+2hours"},
    )
    jobs = executor.map_array(identity, range(count))
    print(f"{len(jobs)} jobs in array {jobs[0].job_id.split('_')[0]}")


if __name__ == "__main__":
    main()
