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
from hipercow_core.errors import CorruptFileError, TaskStateError
from hipercow_core.root import Root
from hipercow_core.schema import RetryPolicy, TaskData
from hipercow_core.store import (
    MAX_CHAIN,
    file_status,
    file_statuses,
    mark_retried,
    read_markers,
    read_task_data,
    record_last,
    remove_task,
    retried_by,
)
from hipercow_core.tasks import TaskSpec, create_tasks, submit_with

# The inputs a task keeps in its directory beside data.json, copied to a retry.
_INPUT_FILES = ("args.json", "args.pkl", "function.pkl")


def follow(
    root: Root, task_ids: Iterable[str], *, enabled: bool = True, strict: bool = True
) -> list[str]:
    """Each id replaced by the latest retry in its chain (unchanged when disabled).

    With `strict`, a chain that cannot be followed (a corrupt link, a cycle)
    raises an error naming the file; otherwise that task stays itself.
    """
    ids = list(task_ids)
    if not enabled:
        return ids
    found = file_statuses(root, ids, follow=True, strict=strict)
    return [found[t][0] for t in ids]


def retry_chain(root: Root, task_id: str, *, tolerant: bool = False) -> list[str]:
    """The whole chain a task belongs to, from the original task to the latest retry.

    Links are followed at most `MAX_CHAIN` steps and never twice through one
    task: a cycle (only possible by editing files) is reported, or with
    `tolerant` the chain is cut where it repeats, so purging it cannot hang.
    A task whose data is unreadable is, tolerantly, a chain of its own.
    """
    seen = {task_id}
    first = task_id
    try:
        while (earlier := read_task_data(root, first).retry_of) is not None:
            if earlier in seen or len(seen) >= MAX_CHAIN:
                if tolerant:
                    break
                raise _cycle(root, task_id)
            seen.add(earlier)
            first = earlier
        chain = [first]
        members = {first}
        while (later := retried_by(root, chain[-1])) is not None:
            if later in members or len(members) >= MAX_CHAIN:
                if tolerant:
                    break
                raise _cycle(root, task_id)
            members.add(later)
            chain.append(later)
    except CorruptFileError:
        if tolerant:
            return [task_id]
        raise
    return chain


def _cycle(root: Root, task_id: str) -> CorruptFileError:
    path = root.task_dir(task_id) / "retried_by"
    return CorruptFileError(
        str(path),
        f"the retries of task {task_id} form a cycle (through '{path}' or its neighbours)",
        "Remove the 'retried_by' file that points back, or purge the tasks with 'hipercow purge'.",
    )


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
        max_log_size=data.max_log_size,
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
    Someone retrying the same task at the same moment wins or loses the
    write-once link; a loser's new task is removed again, `last` is left
    naming a task that exists, and the winner's retry is named: as a
    TaskStateError when no task of this call was retried, else as a warning
    for each task lost.
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
    already: dict[str, str] = {}
    for old, new in zip(latest, new_ids, strict=True):
        if mark_retried(root, old, new):
            linked[old] = new
        else:
            remove_task(root, new)
            already[old] = retried_by(root, old) or "?"
    if already:
        record_last(root, list(linked.values())[-1] if linked else list(already.values())[-1])
    if submit and linked:
        submit_with(root, get_driver(root, driver or originals[0].driver), list(linked.values()))
    _report_already(already, bool(linked))
    return linked


def _report_already(already: Mapping[str, str], any_linked: bool) -> None:
    """Name the retries someone else made first: an error if this call made none."""
    if not already:
        return
    if not any_linked:
        old, new = next(iter(already.items()))
        raise TaskStateError(
            f"task {old} was already retried as {new}",
            f"Follow that retry: 'hipercow task status {old}' shows it.",
        )
    import warnings

    from hipercow_core.errors import HipercowWarning

    for old, new in already.items():
        warnings.warn(HipercowWarning(f"task {old} was already retried as {new}"), stacklevel=3)
