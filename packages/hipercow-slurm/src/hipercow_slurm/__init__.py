"""hipercow_slurm: the `slurm` driver, which runs hipercow tasks as Slurm jobs.

Installed, it registers itself under the `hipercow.drivers` entry point;
`hipercow driver configure slurm` makes it this machine's driver. Modules:
`options` (what can be configured), `sbatch_args` (resources to sbatch
arguments), `arrays` (grouping tasks into job arrays), `script` (the batch
script, rendered from templates/job.sh), `submission` (one submit call),
`queue` (batched, rate-limited squeue/sacct), `states` (what a finished job
means for its task), `parsing` (Slurm's outputs), `cluster_info` (sinfo and
its on-disk cache), `jobfiles` (the driver's files and the outer log),
`commands` (running Slurm commands with retries) and `driver`.
"""
