"""How many more jobs this user may submit, where the cluster's accounting says.

Clusters cap the jobs one user (or account) may have queued: an association's
or a QOS's MaxSubmitJobs, with array elements counted one by one. sbatch
refuses a whole array that would go over, even when most of it would fit, so
the submission asks here how much room is left and sends what fits. The
limits are read with `sacctmgr` (any user may read their own associations
and the QOS list); the jobs counted with one `squeue --me`. When either
cannot be read, the room is unknown and nothing is split.
"""

from __future__ import annotations

import getpass

from hipercow_core.errors import DriverError
from hipercow_core.log import get_logger
from hipercow_slurm import commands
from hipercow_slurm.commands import SlurmError

log = get_logger(__name__)

#: Job states that count towards a submit limit (everything not yet finished).
COUNTED_STATES = "PENDING,RUNNING,SUSPENDED,REQUEUED,CONFIGURING,COMPLETING"
_TIMEOUT = 15.0


def submit_limit(qos: str | None) -> int | None:
    """The smallest MaxSubmitJobs that applies to this user's jobs, if any is set."""
    limits = [*_association_limits(), *_qos_limits(qos or "normal")]
    return min(limits) if limits else None


def queued_jobs() -> int | None:
    """How many of this user's jobs (array elements one by one) are not finished."""
    args = ["--noheader", "--me", "--array", f"--states={COUNTED_STATES}", "--format=%i"]
    try:
        output = commands.run("squeue", args, timeout=_TIMEOUT)
    except (SlurmError, DriverError) as e:
        log.info("cannot count queued jobs", error=str(e))
        return None
    return sum(1 for line in output.stdout.splitlines() if line.strip())


def room_left(qos: str | None) -> int | None:
    """How many more jobs may be submitted now; None if the limits cannot be read."""
    limit = submit_limit(qos)
    if limit is None:
        return None
    queued = queued_jobs()
    return None if queued is None else max(0, limit - queued)


def _association_limits() -> list[int]:
    """MaxSubmitJobs (per user) and GrpSubmitJobs of this user's associations."""
    user = f"user={getpass.getuser()}"
    args = ["--noheader", "--parsable2", "show", "associations", user]
    return _numbers(_sacctmgr([*args, "format=MaxSubmit,GrpSubmit"]))


def _qos_limits(qos: str) -> list[int]:
    """The QOS's MaxSubmitJobsPerUser and GrpSubmitJobs."""
    args = ["--noheader", "--parsable2", "show", "qos", f"name={qos}"]
    return _numbers(_sacctmgr([*args, "format=MaxSubmitPU,GrpSubmit"]))


def _sacctmgr(args: list[str]) -> str:
    try:
        return commands.run("sacctmgr", args, timeout=_TIMEOUT).stdout
    except (SlurmError, DriverError) as e:
        log.info("cannot read submit limits", error=str(e))
        return ""


def _numbers(text: str) -> list[int]:
    return [
        int(field) for line in text.splitlines() for field in line.split("|") if field.isdigit()
    ]
