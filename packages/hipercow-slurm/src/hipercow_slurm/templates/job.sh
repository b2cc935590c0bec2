#!{{shell}}
# hipercow: a Slurm batch script running {{count}} hipercow task(s).
# Written by hipercow's slurm driver at {{written}}; submitted as
#   sbatch {{sbatch_args}}
# Slurm writes this job's output (the task's "outer log") to the --output file.
# Rendered from the template hipercow_slurm/templates/job.sh.

# The tasks of this job, picked by array index (a single job has index 0).
task_ids=(
{{task_ids}}
)
task_id=${task_ids[${SLURM_ARRAY_TASK_ID:-0}]}
if [ -n "${SLURM_ARRAY_JOB_ID:-}" ]; then
    job_id="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
else
    job_id="${SLURM_JOB_ID:-?}"
fi
stamp() { date '+%Y-%m-%d %H:%M:%S %z'; }
echo "hipercow: task ${task_id}, Slurm job ${job_id} on node ${SLURMD_NODENAME:-$(hostname)}, started $(stamp)"

# The driver's 'setup' lines (e.g. module loads). If one fails the job stops
# here, before the task starts, and says which line failed (the driver reads it).
set -e
trap 'code=$?; echo "hipercow: setup failed (exit ${code}): ${hipercow_setup}"; exit "${code}"' ERR
{{setup}}
trap - ERR
set +e

cd {{project}} || exit 1
{{runner}} --root {{project}} "${task_id}"
code=$?
echo "hipercow: runner exited with code ${code} at $(stamp)"
exit "${code}"
