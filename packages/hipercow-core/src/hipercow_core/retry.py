"""Retrying finished tasks: a retry is a new task linked to the one it retries.

Chains are linear: the link from a task to its retry (`retried_by`) is
written once, so two people retrying the same task at once cannot fork the
chain. Status, logs, results, waiting and cancelling follow a task to the end
of its chain unless asked not to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from hipercow_core.drivers.registry import get_driver
from hipercow_core.errors import TaskStateError
from hipercow_core.root import Root
from hipercow_core.schema import RetryPolicy, TaskData
from hipercow_core.store import (
    file_status,
    file_statuses,
    mark_retried,
    read_markers,
    read_task_data,
    remove_task,
    retried_by,
)
from hipercow_core.tasks import TaskSpec, create_tasks, submit_with

# The inputs a task keeps in its directory beside data.json, copied to a retry.
_INPUT_FILES = ("args.json", "args.pkl")


def follow(root: Root, task_ids: Iterable[str], *, enabled: bool = True) -> list[str]:
    """Each id replaced by the latest retry in its chain (unchanged when disabled)."""
    ids = list(task_ids)
    if not enabled:
        return ids
    found = file_statuses(root, ids, follow=True)
    return [found[t][0] for t in ids]


def retry_chain(root: Root, task_id: str) -> list[str]:
    """The whole chain a task belongs to, from the original task to the latest retry."""
    first = task_id
    while (earlier := read_task_data(root, first).retry_of) is not None:
        first = earlier
    chain = [first]
    while (later := retried_by(root, chain[-1])) is not None:
        chain.append(later)
    return chain


def _retry_spec(
    root: Root, data: TaskData, changes: Mapping[str, Any], policy: RetryPolicy | None
) -> TaskSpec:
    task_dir = root.task_dir(data.id)
    files = {
        name: (task_dir / name).read_bytes() for name in _INPUT_FILES if (task_dir / name).exists()
    }
    return TaskSpec(
        command=data.command,
        kind=data.kind,
        resources=msgspec.structs.replace(data.resources, **changes),
        envvars=data.envvars,
        environment=data.environment,
        bundle=data.bundle,
        retry_of=data.id,
        depends_on=data.depends_on,
        after_any=data.after_any,
        retry_policy=policy,
        payload=data.payload,
        files=files,
        path=data.path,
        secrets=data.secrets,
        name=data.name,
        tags=data.tags,
    )


def _next_policy(policy: RetryPolicy | None, automatic: bool) -> RetryPolicy | None:
    if policy is None or not automatic:
        return policy
    return msgspec.structs.replace(policy, retries=max(0, policy.retries - 1))


def chain_reasons(root: Root, chain: Sequence[str]) -> dict[str, str | None]:
    """Each attempt's reason for how it ended (None: still going, or no reason given)."""
    found: dict[str, str | None] = {}
    for task_id in chain:
        finished = read_markers(root, task_id).finished
        found[task_id] = finished.reason if finished else None
    return found


def retry_tasks(
    root: Root,
    task_ids: Sequence[str],
    *,
    resource_changes: Mapping[str, Any] | None = None,
    driver: str | None = None,
    submit: bool = True,
    automatic: bool = False,
) -> dict[str, str]:
    """Retry finished tasks (each followed to its latest retry); returns {retried: new id}.

    Each retry keeps the original task's resources, with only the fields in
    `resource_changes` (e.g. {"max_runtime": 120}) replaced, and its retry
    policy (with one retry fewer when `automatic`, i.e. made by the policy).
    """
    latest = list(dict.fromkeys(follow(root, task_ids)))
    for task_id in latest:
        status = file_status(root, task_id)
        if not status.is_terminal:
            raise TaskStateError(
                f"task {task_id} is {status}: only finished tasks can be retried",
                f"Wait for it ('hipercow task wait {task_id}') or cancel it first.",
            )
    if not latest:
        return {}
    originals = [read_task_data(root, t) for t in latest]
    specs = [
        _retry_spec(root, data, resource_changes or {}, _next_policy(data.retry_policy, automatic))
        for data in originals
    ]
    new_ids = create_tasks(
        root, specs, cwd=root.project, driver=driver or originals[0].driver, submit=False
    )
    linked: dict[str, str] = {}
    for old, new in zip(latest, new_ids, strict=True):
        if mark_retried(root, old, new):
            linked[old] = new
        else:
            remove_task(root, new)
    if submit and linked:
        submit_with(root, get_driver(root, driver or originals[0].driver), list(linked.values()))
    return linked
