#!/bin/bash
# hipercow task {{task_id}}
# Written by hipercow-windows-hpc {{version}} on {{host}} at {{date}}.
# A Linux node of the HPC Pack cluster (LinuxNodes) runs this file through the
# web portal. The project is reached through the node's mount of its share. It
# loads the Python environment module, runs the task from the project directory,
# and exits with the runner's status: 0 exactly when the task recorded success
# (so the portal's state agrees with hipercow's).
echo "hipercow: task {{task_id}} on $(hostname) at $(date)"
HIPERCOW_PYTHON_MODULE={{python_module}}
if [ -n "$HIPERCOW_PYTHON_MODULE" ]; then
  if ! type module >/dev/null 2>&1 && [ -r /etc/profile ]; then
    . /etc/profile
  fi
  if type module >/dev/null 2>&1; then
    module load "$HIPERCOW_PYTHON_MODULE"
  else
    echo "hipercow: no 'module' command on $(hostname); not loading $HIPERCOW_PYTHON_MODULE"
  fi
fi
export HIPERCOW_CORES="${CCP_NUMCPUS:-1}"
export HIPERCOW_PYTHON_VERSION={{python_version}}
cd {{project}} || { echo "hipercow: cannot change to the project directory"; exit 1; }
{{runner}} --root {{project}} {{task_id}}
code=$?
echo "hipercow: the runner exited with code $code at $(date)"
if [ "$code" -eq 0 ]; then
  exit 0
fi
echo "hipercow: task {{task_id}} did not succeed"
exit 1
