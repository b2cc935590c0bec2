"""Removing finished tasks: their whole retry chains go together, running tasks never.

A chain is purged only when every task in it is finished and matches, so
following a task to its latest retry never leads into a deleted directory.
Bundles lose the purged ids; a bundle left empty is removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime

import msgspec

from hipercow_core.bundles import bundle_path, list_bundles, load_bundle, replace_bundle
from hipercow_core.errors import CorruptFileError, InvalidInputError
from hipercow_core.fsutil import no_links, writing
from hipercow_core.retry import retry_chain
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.store import (
    data_path,
    data_readable,
    iter_task_ids,
    read_task_data,
    remove_task,
)
from hipercow_core.tasks import tasks_status

# What can be purged: finished tasks, and tasks whose files are unreadable
# (only when asked for by name: `--status unreadable`).
PURGEABLE = frozenset(
    {TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.CANCELLED, TaskStatus.UNREADABLE}
)


class PurgePlan(msgspec.Struct, frozen=True):
    """What a purge removes (or, with a dry run, would remove).

    `unreadable` counts tasks passed over because a file of theirs is
    corrupt; `--status unreadable` removes them.
    """

    task_ids: tuple[str, ...]
    bundles_emptied: tuple[str, ...]
    unreadable: int = 0


def _chains(root: Root, candidates: Iterable[str]) -> list[list[str]]:
    """Whole retry chains containing the candidates, each listed once; cycles are cut."""
    seen: set[str] = set()
    chains = []
    for task_id in candidates:
        if task_id not in seen:
            chain = retry_chain(root, task_id, tolerant=True)
            seen.update(chain)
            chains.append(chain)
    return chains


def _created(root: Root, task_id: str) -> datetime:
    """When a task was made: from its data, or for unreadable data, the data file's time."""
    try:
        return read_task_data(root, task_id).created
    except CorruptFileError:
        return datetime.fromtimestamp(os.stat(data_path(root, task_id)).st_mtime, UTC)


def plan_purge(
    root: Root,
    *,
    statuses: Iterable[TaskStatus] | None = None,
    older_than: datetime | None = None,
    bundle: str | None = None,
) -> PurgePlan:
    """Select finished tasks by status, age and bundle, widened to whole chains."""
    wanted = set(statuses) if statuses else {s for s in PURGEABLE if s.is_terminal}
    refused = sorted(s.value for s in wanted - PURGEABLE)
    if refused:
        raise InvalidInputError(
            f"tasks that are {', '.join(refused)} cannot be purged",
            "Purge finished tasks (success, failure, cancelled) or unreadable ones; "
            "cancel a task first to purge it.",
        )
    pool = (
        list(load_bundle(root, bundle).task_ids)
        if bundle is not None
        else list(iter_task_ids(root))
    )
    status = tasks_status(root, pool)
    status.update({t: TaskStatus.UNREADABLE for t in pool if not data_readable(root, t)})

    def matches(task_id: str) -> bool:
        if status.get(task_id) not in wanted:
            return False
        return older_than is None or _created(root, task_id) < older_than

    chains = _chains(root, [t for t in pool if matches(t)])
    everything = [t for chain in chains for t in chain]
    chain_status = tasks_status(root, everything)
    chosen = [
        t for chain in chains if all(chain_status[t] in PURGEABLE for t in chain) for t in chain
    ]
    gone = set(chosen)
    emptied = tuple(
        b.name for b in list_bundles(root) if b.task_ids and gone.issuperset(b.task_ids)
    )
    skipped = sum(1 for t in pool if status.get(t) == TaskStatus.UNREADABLE and t not in gone)
    return PurgePlan(tuple(chosen), emptied, skipped)


def purge_tasks(root: Root, plan: PurgePlan) -> None:
    """Carry out a plan: bundles first, so no bundle ever names a missing task for long."""
    gone = set(plan.task_ids)
    for b in list_bundles(root):
        if b.name in plan.bundles_emptied:
            path = bundle_path(root, b.name)
            no_links(root.path, path)
            with writing(path):
                path.unlink(missing_ok=True)
        elif gone.intersection(b.task_ids):
            replace_bundle(
                root,
                msgspec.structs.replace(b, task_ids=tuple(t for t in b.task_ids if t not in gone)),
            )
    for task_id in plan.task_ids:
        remove_task(root, task_id)
