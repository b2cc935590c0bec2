"""Operations on a bundle's tasks: create them as one bundle; follow, wait, retry, cancel them.

`bundles` keeps the records (a name and a list of ids); this module is the
operations behind `hipercow bundle ...` and `hipercow bulk ...`, so a caller
from Python gets the same behaviour as the command line. Every operation
except `create_bundle` follows each task to its latest retry unless asked
not to, since a retried task stands for the work the bundle was made for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import msgspec

from hipercow_core.bundles import (
    choose_name,
    counts,
    list_bundles,
    load_bundle,
    save_bundle,
)
from hipercow_core.errors import InvalidInputError
from hipercow_core.fsutil import atomic_write, read_bytes
from hipercow_core.retry import retry_tasks
from hipercow_core.root import Root
from hipercow_core.schema import Bundle, DataValue, TaskStatus, Usage
from hipercow_core.store import file_statuses, last_path, remove_task
from hipercow_core.tasks import (
    TaskSpec,
    cancel_tasks,
    followed_statuses,
    submit_with,
    tasks_status,
    wait_tasks,
    write_new_tasks,
)

#: What `retry_bundle` retries unless told otherwise.
RETRIED_BY_DEFAULT = (TaskStatus.FAILURE, TaskStatus.CANCELLED)


class BundleSummary(msgspec.Struct, frozen=True):
    """A bundle with how many of its (latest) tasks have each status, from the files."""

    bundle: Bundle
    counts: dict[TaskStatus, int]


def create_bundle(
    root: Root,
    specs: Sequence[TaskSpec],
    *,
    name: str | None = None,
    command: Sequence[str] = (),
    driver: str | None = None,
    submit: bool = True,
    data: Sequence[Mapping[str, DataValue]] = (),
) -> Bundle:
    """Create tasks as one bundle, record it, then submit them in one batch.

    All or nothing: the name is chosen first (a given one must be free, else
    a readable one is picked) so each task can carry it; the tasks are then
    validated and written, and the bundle file last. If that fails (the name
    was taken meanwhile, the disk filled) the tasks are removed again and
    `last` put back, so a failed creation leaves nothing behind. The bundle
    is recorded before submission, so tasks that stay `created` (an
    unreachable scheduler) are still found by the bundle's name. `data`
    holds each task's data values (in the order of `specs`), for listings.
    """
    chosen = choose_name(root, name)
    earlier_last = read_bytes(last_path(root))
    named = [msgspec.structs.replace(s, bundle=chosen) for s in specs]
    made = write_new_tasks(root, named, driver=driver, submit=submit)
    ids = made.ids
    try:
        bundle = save_bundle(root, ids, chosen, command, data)
    except BaseException:
        for task_id in ids:
            remove_task(root, task_id)
        if earlier_last is None:
            last_path(root).unlink(missing_ok=True)
        else:
            atomic_write(last_path(root), earlier_last)
        raise
    if submit and ids:
        submit_with(root, made.backend, ids, known=made.by_id)
    return bundle


def bundle_task_ids(root: Root, name: str, *, follow: bool = True) -> list[str]:
    """The bundle's tasks in order, each its latest retry unless `follow=False`."""
    ids = list(load_bundle(root, name).task_ids)
    if not follow:
        return ids
    found = file_statuses(root, ids, follow=True)
    return [found[t][0] for t in ids]


def bundle_statuses(
    root: Root, name: str, *, follow: bool = True, waiting: dict[str, str] | None = None
) -> dict[str, tuple[str, TaskStatus]]:
    """For each task of the bundle (in order): its latest retry and that task's status.

    `waiting`, when given, is filled (latest id -> words) with why queued
    tasks have not started, from the same scheduler call.
    """
    ids = list(load_bundle(root, name).task_ids)
    return followed_statuses(root, ids, follow=follow, waiting=waiting)


def bundle_usage(root: Root, name: str, *, follow: bool = True) -> dict[str, Usage | None]:
    """What each (latest) task of the bundle used, in order, as its runner recorded it."""
    from hipercow_core.usage import recorded_usage

    return recorded_usage(root, bundle_task_ids(root, name, follow=follow))


def did_not_succeed(status: TaskStatus) -> bool:
    """Finished other than in success, or gone: the tasks `bundle log --failed` shows."""
    return status in (TaskStatus.FAILURE, TaskStatus.CANCELLED, TaskStatus.MISSING)


def bundle_summaries(root: Root) -> list[BundleSummary]:
    """Every bundle, newest first, with its latest tasks' statuses counted from the files."""
    summaries = []
    for bundle in list_bundles(root):
        found = file_statuses(root, bundle.task_ids, follow=True)
        summaries.append(BundleSummary(bundle, counts(status for _, status in found.values())))
    return summaries


def wait_bundle(
    root: Root,
    name: str,
    *,
    timeout: float | None = None,
    fail_early: bool = False,
    follow: bool = True,
    on_poll: Callable[[dict[str, TaskStatus]], None] | None = None,
) -> dict[str, TaskStatus]:
    """Wait for the bundle's tasks; returns the last statuses (see `tasks.wait_tasks`)."""
    ids = bundle_task_ids(root, name, follow=follow)
    return wait_tasks(
        root, ids, timeout=timeout, fail_early=fail_early, on_poll=on_poll, follow=follow
    )


def retry_bundle(
    root: Root,
    name: str,
    *,
    statuses: Iterable[TaskStatus] | None = None,
    driver: str | None = None,
) -> dict[str, str]:
    """Retry the bundle's latest tasks whose status is chosen; returns {retried: new id}.

    By default the ones that failed or were cancelled. Each retry keeps its
    task's resources and carries the bundle's name; the bundle's own list is
    unchanged, and following leads from each listed task to its retry.
    """
    chosen = set(statuses or RETRIED_BY_DEFAULT)
    if not all(s.is_terminal for s in chosen):
        raise InvalidInputError(
            "only finished tasks can be retried", "Use --status with success, failure or cancelled."
        )
    latest = bundle_task_ids(root, name)
    found = tasks_status(root, latest)
    selected = [t for t in latest if found[t] in chosen]
    return retry_tasks(root, selected, driver=driver) if selected else {}


def cancel_bundle(root: Root, name: str) -> dict[str, bool]:
    """Cancel every unfinished (latest) task of the bundle; {task: whether it was cancelled}."""
    return cancel_tasks(root, bundle_task_ids(root, name))
