"""Saying why tasks did not succeed, where a wait ends: the reason, the log's tail, what next.

A failed wait is where a person first learns something went wrong, so it
says the exit code or reason at once, shows the end of the log (where errors
usually are), and names the command that shows the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from hipercow_cli import output
from hipercow_core.root import Root
from hipercow_core.schema import TaskInfo, TaskStatus

LOG_LINES = 10
FAILURES_SHOWN = 5


def why(info: TaskInfo) -> str:
    """The exit code and reason of a finished task in a few words."""
    parts = []
    if info.exit_code is not None:
        parts.append(f"exit code {info.exit_code}")
    if info.reason:
        parts.append(info.reason)
    if info.note:
        parts.append(info.note)
    return "; ".join(parts) or "no reason recorded"


def log_tail(text: str, lines: int = LOG_LINES) -> list[str]:
    return text.rstrip("\n").splitlines()[-lines:] if text.strip() else []


def explain_task(root: Root, task_id: str) -> None:
    """After a single task's wait ended badly: why, the log's last lines, the next command."""
    from hipercow_core.tasks import task_info, task_log

    info = task_info(root, task_id)
    output.err(f"Task {task_id}: {output.status_text(info.status)} ({why(info)})")
    tail = log_tail(task_log(root, task_id) or "")
    if tail:
        output.err(f"Last {len(tail)} line(s) of its log:")
        for line in tail:
            output.err(f"  {line}")
        output.err(f"The whole log: hipercow task log {task_id}")
    else:
        output.err(f"Its log is empty; the scheduler's log: hipercow task log --outer {task_id}")


def explain_tasks(root: Root, statuses: dict[str, TaskStatus], bundle: str) -> None:
    """After a bundle's wait: which tasks did not succeed, the first few with their reasons."""
    from hipercow_core.tasks import task_info

    bad: Sequence[str] = [
        t for t, s in statuses.items() if s in (TaskStatus.FAILURE, TaskStatus.CANCELLED)
    ]
    if not bad:
        return
    output.err(f"{len(bad)} task(s) did not succeed:")
    for task_id in bad[:FAILURES_SHOWN]:
        info = task_info(root, task_id)
        output.err(f"  {task_id}  {output.status_text(info.status)} ({why(info)})")
    if len(bad) > FAILURES_SHOWN:
        output.err(f"  ... and {len(bad) - FAILURES_SHOWN} more")
    output.err(f"Their logs: hipercow bundle log {bundle} --failed")
