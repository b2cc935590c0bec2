"""The slurm driver's options, as saved per machine by `hipercow driver configure slurm`.

Values arrive from the command line as text (`partition=main`), so list-valued
options also accept a single string: `sbatch_args` and `runner` are split the
way a shell would split them (so `--mail-type=END,FAIL` keeps its comma), and
`setup` is split into lines on newlines or semicolons. Whatever was given is
normalised to lists before it is saved, so the saved file is unambiguous.
Bad values raise ValueError, which msgspec reports as a validation error and
the registry turns into a message naming the driver's options.
"""

from __future__ import annotations

import re
import shlex
import sys

import msgspec

_SETUP_SEPARATOR = re.compile(r"[;\n]")


class SlurmOptions(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """How this machine submits to Slurm.

    `partition`: the default partition for tasks that name no queue (else the
    cluster's default). `account`, `qos`: passed to every job. `sbatch_args`:
    extra sbatch arguments, given last so they win. `setup`: shell lines run on
    the node before the task (`module load python`). `runner`: the command
    that starts hipercow's runner on the node (default: this interpreter with
    `-m hipercow_core.run`), for nodes that see Python at another path.
    `array_limit`: how many tasks of one array may run at once (`%N`).
    `low_priority_nice`: the `--nice` given to tasks with priority `low`.
    `build_partition`: where environment provisioning jobs run (default: as tasks).
    `conda_executable`: a micromamba, mamba or conda on the nodes for conda
    environments to be built with (default: py-rattler, no tool needed).
    `login_shell`: run the batch script as a login shell (`bash -l`), so the
    site's profile defines `module` even when jobs start with --export=NONE.
    `node_project`: where the project is on the nodes, when they mount it at
    another path than this machine (as the portal driver maps shares).
    `submit_timeout`: seconds one sbatch may take (a busy controller, or one
    behind a job_submit plugin, takes seconds per job).
    """

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    sbatch_args: list[str] | str = []
    setup: list[str] | str = []
    runner: list[str] | str = []
    array_limit: int | None = None
    low_priority_nice: int = 100
    build_partition: str | None = None
    conda_executable: str | None = None
    login_shell: bool = False
    node_project: str | None = None
    submit_timeout: float = 120.0

    def __post_init__(self) -> None:
        self.partition = self.partition or None
        self.account = self.account or None
        self.qos = self.qos or None
        self.build_partition = self.build_partition or None
        self.conda_executable = self.conda_executable or None
        self.sbatch_args = split_words(self.sbatch_args, "sbatch_args")
        self.runner = split_words(self.runner, "runner")
        self.setup = split_lines(self.setup)
        refuse_other_clusters(self.sbatch_args)
        self.node_project = self.node_project or None
        if self.node_project is not None and not self.node_project.startswith("/"):
            raise ValueError(
                f"node_project must be an absolute path on the nodes, not {self.node_project!r}"
            )
        if self.array_limit is not None and self.array_limit < 1:
            raise ValueError(
                f"array_limit must be at least 1, not {self.array_limit} "
                "(leave it out to run as many array tasks at once as fit)"
            )
        if self.submit_timeout <= 0:
            raise ValueError("submit_timeout must be a positive number of seconds")
        if self.low_priority_nice < 0:
            raise ValueError("low_priority_nice must not be negative (that raises priority)")

    @property
    def extra_args(self) -> list[str]:
        return list(self.sbatch_args)

    @property
    def setup_lines(self) -> list[str]:
        return list(self.setup)

    @property
    def runner_command(self) -> list[str]:
        """The runner command; the default is resolved now, on the submitting machine."""
        if self.runner:
            return list(self.runner)
        return [sys.executable, "-m", "hipercow_core.run"]


#: sbatch's options that send a job to another cluster of a multi-cluster site.
_CLUSTER_OPTIONS = ("-M", "--clusters", "--cluster")


def refuse_other_clusters(args: list[str] | str) -> None:
    """Refuse `-M`/`--clusters`: every later squeue and scancel would have to name it too.

    sbatch then prints `jobid;cluster`, and a job id without its cluster is
    "invalid" to the commands of this machine's own cluster.
    """
    for word in args if isinstance(args, list) else [args]:
        name = word.split("=", 1)[0]
        if name in _CLUSTER_OPTIONS or (word.startswith("-M") and not word.startswith("--")):
            raise ValueError(
                f"sbatch_args: {word!r} sends jobs to another cluster, which hipercow does not "
                "follow; run hipercow on a login node of that cluster (or point SLURM_CONF at "
                "its configuration) instead"
            )


def split_words(value: list[str] | str, field: str) -> list[str]:
    """Shell-style words from text; a list is kept as given."""
    if not isinstance(value, str):
        return list(value)
    try:
        return shlex.split(value)
    except ValueError as e:
        raise ValueError(f"{field}: cannot split {value!r} into arguments ({e})") from None


def split_lines(value: list[str] | str) -> list[str]:
    """Lines of shell from text separated by newlines or semicolons; blanks dropped.

    Splitting on `;` keeps one-line input such as `module purge; module load R`
    meaning the same in bash; a quoted `;` needs the list form instead.
    """
    parts = _SETUP_SEPARATOR.split(value) if isinstance(value, str) else value
    return [line.strip() for line in parts if line.strip()]
