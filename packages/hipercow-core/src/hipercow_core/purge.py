"""Removing finished tasks: their whole retry chains go together, running tasks never.

A chain is judged by its latest attempt, as every other command follows a task
to its latest retry: a failure retried into a success is a success, and is
not removed by a purge of failures. A chain goes only when every task in it
is finished, so following a task never leads into a deleted directory.
Bundles lose the purged ids; a bundle left empty is removed.
A chain holding a task that an unfinished task depends on is kept (and
reported), since the dependent would otherwise fail with "dependency
failed" once it is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime

import msgspec

from hipercow_core.bundles import (
    bundle_path,
    list_bundles,
    load_bundle,
    replace_bundle,
    without,
)
from hipercow_core.errors import CorruptFileError, HipercowError, InvalidInputError
from hipercow_core.fsutil import no_links, writing
from hipercow_core.log import get_logger
from hipercow_core.provisioning_jobs import users_tasks
from hipercow_core.retry import retry_chain
from hipercow_core.root import Root
from hipercow_core.schema import TaskData, TaskStatus
from hipercow_core.store import (
    data_path,
    data_readable,
    file_status,
    iter_task_ids,
    read_submitted,
    read_task_data,
    remove_task,
)
from hipercow_core.tasks import tasks_status

log = get_logger(__name__)

# What can be purged: finished tasks, and tasks whose files are unreadable
# (only when asked for by name: `--status unreadable`).
PURGEABLE = frozenset(
    {TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.CANCELLED, TaskStatus.UNREADABLE}
)


class PurgedTask(msgspec.Struct, frozen=True):
    """One task a purge removes: enough for a person to check the list before saying yes."""

    id: str
    status: TaskStatus
    bundle: str | None
    created: datetime
    retried_by: str | None = None


class PurgePlan(msgspec.Struct, frozen=True):
    """What a purge removes (or, with a dry run, would remove).

    `kept` names the finished tasks that matched but stay, each with the
    unfinished tasks that depend on it.
    """

    tasks: tuple[PurgedTask, ...]
    bundles_emptied: tuple[str, ...]
    kept: dict[str, tuple[str, ...]] = {}
    unreadable: int = 0

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tasks)


def needed_by_unfinished(root: Root, task_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """For each of `task_ids` that an unfinished task depends on: those dependents.

    Unfinished means not yet terminal in its files, `created` included: a
    task submitted later needs its dependencies as much as a queued one.
    """
    wanted = set(task_ids)
    needed: dict[str, list[str]] = {}
    if not wanted:
        return {}
    for task_id in iter_task_ids(root):
        if task_id in wanted or file_status(root, task_id).is_terminal:
            continue
        try:
            data = read_task_data(root, task_id)
            depends_on = (*data.depends_on, *data.after_any)
        except HipercowError:  # unreadable: it names nothing we can keep for it
            continue
        for dep in depends_on:
            if dep in wanted:
                needed.setdefault(dep, []).append(task_id)
    return {dep: tuple(dependents) for dep, dependents in needed.items()}


def _keep_needed(
    chains: list[list[str]], needed: dict[str, tuple[str, ...]]
) -> tuple[list[list[str]], dict[str, tuple[str, ...]]]:
    """The chains without those holding a needed task, and what was kept for whom."""
    kept = {t: needed[t] for chain in chains for t in chain if t in needed}
    return [chain for chain in chains if not any(t in needed for t in chain)], kept


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
    """Select finished chains by their latest attempt's status and age, and by bundle.

    Tasks whose files are unreadable are passed over (and counted) unless
    asked for with `--status unreadable`.
    """
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
    unreadable = {t for t in pool if not data_readable(root, t)}
    # A provisioning job is its environment attempt's record: never a purge of tasks' to take.
    pool = [*users_tasks(root, [t for t in pool if t not in unreadable]), *unreadable]
    chains = _chains(root, pool)
    status = tasks_status(root, [t for chain in chains for t in chain if t not in unreadable])
    status.update(dict.fromkeys(unreadable, TaskStatus.UNREADABLE))

    def chosen(chain: list[str]) -> bool:
        latest = chain[-1]
        if status[latest] not in wanted or not all(status[t] in PURGEABLE for t in chain):
            return False
        return older_than is None or _created(root, latest) < older_than

    selected = [chain for chain in chains if chosen(chain)]
    selected, kept = _keep_needed(
        selected, needed_by_unfinished(root, [t for chain in selected for t in chain])
    )
    removed = []
    for chain in selected:
        for position, task_id in enumerate(chain):
            record = _data(root, task_id)
            later = chain[position + 1] if position + 1 < len(chain) else None
            removed.append(
                PurgedTask(
                    task_id,
                    status[task_id],
                    record.bundle if record else None,
                    record.created if record else _created(root, task_id),
                    later,
                )
            )
    gone = {t.id for t in removed}
    emptied = tuple(
        b.name for b in list_bundles(root) if b.task_ids and gone.issuperset(b.task_ids)
    )
    skipped = sum(1 for t in unreadable if t not in gone)
    return PurgePlan(tuple(removed), emptied, kept, skipped)


def _data(root: Root, task_id: str) -> TaskData | None:
    try:
        return read_task_data(root, task_id)
    except CorruptFileError:
        return None


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
            replace_bundle(root, without(b, gone))
    _forget_jobs(root, plan.task_ids)
    for task_id in plan.task_ids:
        remove_task(root, task_id)


def _forget_jobs(root: Root, task_ids: Iterable[str]) -> None:
    """Let each driver drop what it keeps of the purged tasks' jobs (array records, scripts).

    Best effort: the tasks go whatever happens here, and a driver that cannot
    be had on this machine (one configured elsewhere) keeps its files.
    """
    from hipercow_core.drivers.registry import get_driver

    groups: dict[str, dict[str, str]] = {}
    for task_id in task_ids:
        try:
            marker = read_submitted(root, task_id)
        except CorruptFileError:
            continue
        if marker is not None and marker.job_id:
            groups.setdefault(marker.driver, {})[task_id] = marker.job_id
    for name, jobs in groups.items():
        try:
            get_driver(root, name).forget(jobs)
        except (HipercowError, OSError) as e:
            log.info("driver records of purged tasks kept", driver=name, error=str(e))
