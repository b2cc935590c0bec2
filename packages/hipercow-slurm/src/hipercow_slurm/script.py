"""Rendering the batch script that sbatch runs, from the template shipped here.

The script is a file in the package (templates/job.sh), not a string in the
code, so it can be read and changed as shell. Its placeholders use `@@`
rather than `$`, so the shell's own `${...}` needs no escaping.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path

TEMPLATE = "job.sh"


class ScriptTemplate(string.Template):
    delimiter = "@@"


@cache
def _template() -> ScriptTemplate:
    text = resources.files("hipercow_slurm").joinpath("templates", TEMPLATE).read_text()
    return ScriptTemplate(text)


def render_script(
    *,
    task_ids: Sequence[str],
    project: Path,
    runner: Sequence[str],
    setup: Sequence[str],
    sbatch_args: Sequence[str],
    written: datetime,
) -> str:
    """The batch script for one sbatch call: one task, or one array of tasks.

    Task ids are hex and the runner and paths are shell-quoted; `setup`
    lines are shell on purpose and go in as written.
    """
    if not task_ids:
        raise ValueError("a batch script needs at least one task")
    return _template().substitute(
        count=len(task_ids),
        written=written.astimezone().isoformat(timespec="seconds"),
        sbatch_args=shlex.join(sbatch_args).replace("\n", " "),
        task_ids="\n".join(f"    {task_id}" for task_id in task_ids),
        setup="\n".join(setup) if setup else ":",
        project=shlex.quote(str(project)),
        runner=shlex.join(runner),
    )
