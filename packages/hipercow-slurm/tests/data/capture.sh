#!/bin/bash
# Re-capture the Slurm outputs in this directory from the development cluster
# (tools/slurm-cluster), in accounting mode with memory enforcement:
#   uv run python tools/slurm-cluster/cluster.py configure --reset --accounting \
#       JobAcctGatherParams=OverMemoryKill
#   bash packages/hipercow-slurm/tests/data/capture.sh /tmp/capture
# then put the cluster back with `cluster.py configure --reset`. Takes about 2 minutes.
set -euo pipefail
out=${1:?usage: capture.sh SCRATCH_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
cd "$out"
sub() { sbatch --parsable -o "$out/%j.out" "$@"; }
ids=()
ids+=("$(sub --wrap true)")                                        # completed
ids+=("$(sub --wrap 'exit 3')")                                    # exit code 3
ids+=("$(sub --wrap 'kill -9 $$')")                                # killed by signal 9
ids+=("$(sub --begin=now+1hour --wrap true)")                      # held by --begin
ids+=("$(sub --array=0-3%2 --wrap 'exit $SLURM_ARRAY_TASK_ID')")   # array, limit 2
ids+=("$(sub --array=0-4 --begin=now+1hour --wrap true)")          # held array
ids+=("$(sub --wrap 'sleep 300')")                                 # running
ids+=("$(sub --begin=now+1hour --wrap 'sleep 300')")               # cancelled pending
ids+=("$(sub --time=1 --wrap 'sleep 300')")                        # TIMEOUT
ids+=("$(sub --wrap 'exit 137')")                                  # exit 137
ids+=("$(sbatch --parsable -o "$out/missing/%j.out" --wrap true)") # launch failure
ids+=("$(sub --mem=50M --wrap 'python3 -c "a = bytearray(300 << 20); import time; time.sleep(30)"')")
ids+=("$(sub --wrap 'sleep 300')")                                 # requeued
scancel "${ids[7]}"
sleep 4
scontrol requeue "${ids[12]}"
jobs=$(IFS=,; echo "${ids[*]}")
format='JobArrayID:0|,State:0|,exit_code:0|,RestartCnt:0|,Reason:0'
sleep 3
squeue --noheader --array --states=all --jobs="$jobs" --Format="$format" > "$here/squeue-early.txt"
sleep 100
squeue --noheader --array --states=all --jobs="$jobs" --Format="$format" > "$here/squeue-late.txt"
sacct --noheader --parsable2 --allocations --jobs="$jobs" \
    --format=JobID,State,ExitCode,JobName,Submit > "$here/sacct.txt"
scancel "${ids[@]}"
echo "jobs: ${ids[*]}"
