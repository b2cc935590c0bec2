"""Automatic retries: a task that ended for a reason its policy names is retried by itself.

`--retries N --retry-on timeout,out-of-memory,lost,node-failure
--retry-scale memory=2,runtime=2` becomes the task's `RetryPolicy`. Whoever
writes a matching terminal marker (`jobs.settle`: core reconciling with the
scheduler, the local daemon, a worker) makes the retry at once, an ordinary
linked retry (`retry.retry_tasks`), with the resources scaled and one retry
fewer; waits call `retry_if_due` too, so a retry whose maker died is still
made. The write-once `retried_by` link keeps the chain linear however many
try at once.
"""

from __future__ import annotations

import warnings

from hipercow_core import outcomes
from hipercow_core.errors import HipercowError, HipercowWarning, InvalidInputError
from hipercow_core.root import Root
from hipercow_core.schema import Resources, RetryPolicy, TaskData, TaskStatus
from hipercow_core.store import read_finished, read_task_data, retried_by

#: What users type for `--retry-on`, and the reasons they stand for.
RETRY_ON = {
    "timeout": outcomes.TIMED_OUT,
    "out-of-memory": outcomes.OUT_OF_MEMORY,
    "lost": outcomes.LOST,
    "node-failure": outcomes.NODE_FAILURE,
}
DEFAULT_ON = (outcomes.LOST, outcomes.NODE_FAILURE)


class RetryFailedWarning(HipercowWarning):
    """An automatic retry could not be made (its scaled resources refused, say)."""


def parse_retry_policy(
    retries: int | None, retry_on: str | None, retry_scale: str | None
) -> RetryPolicy | None:
    """The policy from the options; None without `--retries` (the others need it)."""
    if retries is None:
        if retry_on or retry_scale:
            raise InvalidInputError(
                "--retry-on and --retry-scale need --retries", "Add --retries N (e.g. 1)."
            )
        return None
    if retries < 0:
        raise InvalidInputError(f"--retries {retries} is negative", "Give 0 or more.")
    on = DEFAULT_ON if not retry_on else tuple(_reason(w) for w in retry_on.split(","))
    scale = {"memory": 1.0, "runtime": 1.0}
    for part in (retry_scale or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = 0.0
        if not sep or key.strip() not in scale or factor < 1:
            raise InvalidInputError(
                f"--retry-scale '{part}' is not memory=F or runtime=F with F at least 1",
                "Write e.g. --retry-scale memory=2,runtime=1.5.",
            )
        scale[key.strip()] = factor
    return RetryPolicy(retries, tuple(dict.fromkeys(on)), scale["memory"], scale["runtime"])


def _reason(word: str) -> str:
    reason = RETRY_ON.get(word.strip().lower())
    if reason is None:
        raise InvalidInputError(
            f"--retry-on '{word.strip()}' is not a reason to retry",
            f"Use some of: {', '.join(RETRY_ON)} (comma-separated).",
        )
    return reason


def scaled(resources: Resources, policy: RetryPolicy) -> dict[str, int]:
    """The resource fields a retry changes: memory and runtime times their factors."""
    changes: dict[str, int] = {}
    for field, factor in (
        ("memory_per_task", policy.memory),
        ("memory_per_node", policy.memory),
        ("max_runtime", policy.runtime),
    ):
        value = getattr(resources, field)
        if value is not None and factor != 1:
            changes[field] = round(value * factor)
    return changes


def due(data: TaskData, status: TaskStatus, reason: str | None) -> bool:
    """Whether a task that ended so is to be retried by its policy."""
    policy = data.retry_policy
    return (
        policy is not None
        and policy.retries > 0
        and status == TaskStatus.FAILURE
        and reason in policy.on
    )


def retry_if_due(root: Root, task_id: str) -> str | None:
    """The task's retry: the one already linked, or one made now if its policy says so.

    Waits ask this of every task that ends, so one that did not fail costs
    two small reads (its link, its marker), not its data too.
    """
    existing = retried_by(root, task_id)
    if existing is not None:
        return existing
    finished = read_finished(root, task_id)
    if finished is None or finished.status != TaskStatus.FAILURE:  # only failures are retried
        return None
    data = read_task_data(root, task_id)
    if not due(data, finished.status, finished.reason):
        return None
    assert data.retry_policy is not None
    from hipercow_core.retry import retry_tasks

    try:
        made = retry_tasks(
            root,
            [task_id],
            resource_changes=scaled(data.resources, data.retry_policy),
            automatic=True,
        )
    except HipercowError as e:
        if (made_meanwhile := retried_by(root, task_id)) is not None:
            return made_meanwhile  # someone else made it first
        warnings.warn(
            f"task {task_id} ended '{finished.reason}' but its automatic retry failed: {e.message}",
            RetryFailedWarning,
            stacklevel=2,
        )
        return None
    return made.get(task_id) or retried_by(root, task_id)
