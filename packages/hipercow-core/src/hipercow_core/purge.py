"""Removing finished tasks: their whole retry chains go together, running tasks never.

A chain is purged only when every task in it is finished and matches, so
following a task to its latest retry never leads into a deleted directory.
Bundles lose the purged ids; a bundle left empty is removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from hipercow_core.bundles import bundle_path, list_bundles, load_bundle, replace_bundle
from hipercow_core.retry import retry_chain
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.store import iter_task_ids, read_task_data, remove_task
from hipercow_core.tasks import tasks_status


class PurgePlan(msgspec.Struct, frozen=True):
    """What a purge removes (or, with a dry run, would remove)."""

    task_ids: tuple[str, ...]
    bundles_emptied: tuple[str, ...]


def _chains(root: Root, candidates: Iterable[str]) -> list[list[str]]:
    """Whole retry chains containing the candidates, each listed once."""
    seen: set[str] = set()
    chains = []
    for task_id in candidates:
        if task_id not in seen:
            chain = retry_chain(root, task_id)
            seen.update(chain)
            chains.append(chain)
    return chains


def plan_purge(
    root: Root,
    *,
    statuses: Iterable[TaskStatus] | None = None,
    older_than: datetime | None = None,
    bundle: str | None = None,
) -> PurgePlan:
    """Select finished tasks by status, age and bundle, widened to whole chains."""
    wanted = (
        set(statuses)
        if statuses
        else {TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.CANCELLED}
    )
    wanted = {s for s in wanted if s.is_terminal}
    pool = list(load_bundle(root, bundle).task_ids) if bundle else list(iter_task_ids(root))
    status = tasks_status(root, pool)

    def matches(task_id: str) -> bool:
        if status.get(task_id) not in wanted:
            return False
        return older_than is None or read_task_data(root, task_id).created < older_than

    chains = _chains(root, [t for t in pool if matches(t)])
    everything = [t for chain in chains for t in chain]
    chain_status = tasks_status(root, everything)
    chosen = [
        t for chain in chains if all(chain_status[t].is_terminal for t in chain) for t in chain
    ]
    gone = set(chosen)
    emptied = tuple(
        b.name for b in list_bundles(root) if b.task_ids and gone.issuperset(b.task_ids)
    )
    return PurgePlan(tuple(chosen), emptied)


def purge_tasks(root: Root, plan: PurgePlan) -> None:
    """Carry out a plan: bundles first, so no bundle ever names a missing task for long."""
    gone = set(plan.task_ids)
    for b in list_bundles(root):
        if b.name in plan.bundles_emptied:
            bundle_path(root, b.name).unlink(missing_ok=True)
        elif gone.intersection(b.task_ids):
            replace_bundle(
                root,
                msgspec.structs.replace(b, task_ids=tuple(t for t in b.task_ids if t not in gone)),
            )
    for task_id in plan.task_ids:
        remove_task(root, task_id)
