"""Rendering the batch script that sbatch runs, from the template shipped here.

The script is a file in the package (templates/job.sh), not a string in the
code, so it can be read and changed as shell; core's renderer fills its
`{{name}}` placeholders. The job's exit status is the runner's, which is 0
exactly when the task recorded success.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from hipercow_core import templates

TEMPLATE = "job.sh"
#: The interpreter line: a login shell reads /etc/profile, where sites define `module`.
SHELL = "/bin/bash"
LOGIN_SHELL = "/bin/bash -l"


def render_script(
    *,
    task_ids: Sequence[str],
    project: Path,
    runner: Sequence[str],
    setup: Sequence[str],
    sbatch_args: Sequence[str],
    written: datetime,
    login_shell: bool = False,
) -> str:
    """The batch script for one sbatch call: one task, or one array of tasks.

    Task ids are hex and the runner and paths are shell-quoted; `setup`
    lines are shell on purpose and go in as written.
    """
    if not task_ids:
        raise ValueError("a batch script needs at least one task")
    values = {
        "shell": LOGIN_SHELL if login_shell else SHELL,
        "count": str(len(task_ids)),
        "written": written.astimezone().isoformat(timespec="seconds"),
        "sbatch_args": shlex.join(sbatch_args).replace("\n", " "),
        "task_ids": "\n".join(f"    {task_id}" for task_id in task_ids),
        "setup": setup_block(setup),
        "project": shlex.quote(str(project)),
        "runner": shlex.join(runner),
    }
    return templates.render(templates.load("hipercow_slurm", TEMPLATE), values)


def setup_block(lines: Sequence[str]) -> str:
    """The setup lines, each after a note of itself, so a failure can say which failed.

    The template's ERR trap prints `hipercow_setup`: bash's own idea of the
    failing command would be the last one inside a function such as `module`.
    A line continued with a backslash keeps its continuation next to it.
    """
    if not lines:
        return ":"
    block: list[str] = []
    continued = False
    for line in lines:
        if not continued:
            block.append(f"hipercow_setup={shlex.quote(line)}")
        block.append(line)
        continued = line.endswith("\\")
    return "\n".join(block)
