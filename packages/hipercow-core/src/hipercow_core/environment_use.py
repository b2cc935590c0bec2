"""What uses an environment: its provisioning claim and the tasks that run in it.

Kept apart from `environments` (records and builds, which `tasks` needs to
create a task) because answering these questions asks for task statuses,
so it sits above `tasks`, never below it.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from hipercow_core.environments import (
    EMPTY,
    RECORD,
    EnvironmentBusyError,
    environment_dir,
    read_environment,
    read_running,
)
from hipercow_core.errors import CorruptFileError, InvalidInputError
from hipercow_core.fsutil import no_links, remove_tree, retry_sharing, writing
from hipercow_core.root import Root
from hipercow_core.schema import ProvisionRunning, TaskStatus
from hipercow_core.tasks import list_tasks, task_status

# A claim without a task id is a provisioning being submitted; older than
# this, its submitter died before it finished submitting.
_CLAIM_GRACE = timedelta(minutes=10)


def provisioning_active(root: Root, running: ProvisionRunning) -> bool:
    """Whether a claim still stands: its job has not finished (asking its driver).

    A claim whose job is not submitted yet stands for a grace period only, so
    a submitter that died half-way does not block the environment for ever.
    """
    status = TaskStatus.CREATED if running.task_id is None else task_status(root, running.task_id)
    if status == TaskStatus.CREATED:
        return datetime.now(UTC) - running.started < _CLAIM_GRACE
    return status.is_active


def tasks_using(root: Root, name: str) -> list[str]:
    """Ids of submitted or running tasks that run in environment `name`."""
    active = list_tasks(root, statuses=(TaskStatus.SUBMITTED, TaskStatus.RUNNING))
    return [s.id for s in active if s.environment == name]


def delete_environment(root: Root, name: str, *, force: bool = False) -> None:
    """Delete one environment: its record, builds and history.

    Refused while it is being provisioned, and (unless `force`) while tasks
    using it are queued or running, since deleting their interpreter breaks them.
    """
    if name == EMPTY:
        raise InvalidInputError("'empty' is built in and cannot be deleted")
    with contextlib.suppress(CorruptFileError):  # deleting is how a broken one is removed
        read_environment(root, name)

    running = read_running(root, name)
    if running is not None and provisioning_active(root, running):
        raise EnvironmentBusyError(
            f"environment '{name}' is being provisioned (attempt {running.attempt})",
            "Wait for it to finish, or cancel its task"
            + (f" with 'hipercow task cancel {running.task_id}'." if running.task_id else "."),
        )
    if not force:
        busy = tasks_using(root, name)
        if busy:
            raise EnvironmentBusyError(
                f"{len(busy)} task(s) using environment '{name}' are queued or running, "
                f"e.g. {busy[0]}",
                "Wait for them or cancel them, or delete anyway with --force.",
            )
    directory = environment_dir(root, name)
    no_links(root.path, directory)  # never delete through a link planted in the root
    # Remove the record first: a half-deleted environment then reads as absent.
    with writing(directory):
        retry_sharing((directory / RECORD).unlink)
        remove_tree(directory)
