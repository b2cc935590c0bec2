#!/bin/bash
# hipercow task {{task_id}}
# Written by hipercow-windows-hpc {{version}} on {{host}} at {{date}}.
# A Linux node of the HPC Pack cluster (LinuxNodes) runs this file through the
# web portal. The project is reached through the node's mount of its share. It
# loads the Python environment module, runs the task from the project directory,
# and exits with the runner's status: 0 exactly when the task recorded success
# (so the portal's state agrees with hipercow's).
# While the task runs, the job's Kerberos ticket is renewed every
# HIPERCOW_KERBEROS_RENEW seconds (0: never): the shares are reached with it,
# and a long task would lose them when it expired.
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
HIPERCOW_KERBEROS_RENEW={{kerberos_renew}}
hipercow_renew_ticket() {
  trap 'kill "$pause" 2>/dev/null; exit 0' TERM
  while :; do
    sleep "$HIPERCOW_KERBEROS_RENEW" &
    pause=$!
    wait "$pause"
    kinit -R || echo "hipercow: could not renew the Kerberos ticket at $(date)"
  done
}
renewer=
if [ "$HIPERCOW_KERBEROS_RENEW" != 0 ]; then
  if ! type kinit >/dev/null 2>&1; then
    echo "hipercow: no 'kinit' on $(hostname); not renewing the Kerberos ticket"
  elif ! klist -s 2>/dev/null; then
    echo "hipercow: no Kerberos ticket to renew on $(hostname)"
  else
    hipercow_renew_ticket &
    renewer=$!
  fi
fi
{{runner}} --root {{project}} {{task_id}}
code=$?
if [ -n "$renewer" ]; then
  kill "$renewer" 2>/dev/null
  wait "$renewer" 2>/dev/null
fi
echo "hipercow: the runner exited with code $code at $(date)"
if [ "$code" -eq 0 ]; then
  exit 0
fi
echo "hipercow: task {{task_id}} did not succeed"
exit 1
