"""What a task depends on, and whether its dependencies let it run.

`resolve_dependencies` turns what a user names (task ids, or bundle names
standing for all their tasks) into task ids; `readiness` says whether they
all succeeded, one failed, or some are still waiting.

Schedulers enforce dependencies their own way (Slurm's afterok, the portal's
dependency field, the local daemon holding the task back); this is the one
place that says what the files make of them. Core (`jobs`) fails a task
whose dependency failed, with `outcomes.DEPENDENCY_FAILED`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from hipercow_core.bundles import bundle_exists, load_bundle
from hipercow_core.errors import InvalidTaskIdError
from hipercow_core.ids import validate_task_id
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.store import file_status


class Readiness(enum.Enum):
    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"


def readiness(root: Root, depends_on: Sequence[str]) -> Readiness:
    """READY when every dependency succeeded; FAILED as soon as one cannot succeed."""
    waiting = False
    for task_id in depends_on:
        status = file_status(root, task_id)
        if status == TaskStatus.SUCCESS:
            continue
        if status.is_terminal or status == TaskStatus.MISSING:
            return Readiness.FAILED
        waiting = True
    return Readiness.WAITING if waiting else Readiness.READY


def ended(root: Root, after_any: Sequence[str]) -> bool:
    """Whether every `--after-any` dependency has ended (a purged one counts as ended)."""
    return all(
        (status := file_status(root, task_id)).is_terminal or status == TaskStatus.MISSING
        for task_id in after_any
    )


def resolve_dependencies(root: Root, references: Iterable[str]) -> tuple[str, ...]:
    """Task ids from task ids and bundle names (each standing for all its tasks), once each.

    A name is a bundle's when such a bundle exists; anything else must be a
    well-formed task id (whether that task exists is checked on creation).
    """
    ids: list[str] = []
    for reference in references:
        if bundle_exists(root, reference):
            ids.extend(load_bundle(root, reference).task_ids)
            continue
        try:
            ids.append(validate_task_id(reference))
        except InvalidTaskIdError:
            shown = reference if len(reference) <= 40 else reference[:37] + "..."
            raise InvalidTaskIdError(
                f"'{shown}' (a dependency) is neither a bundle of this root nor a task id",
                "'hipercow bundle list' and 'hipercow task list' show what there is.",
            ) from None
    return tuple(dict.fromkeys(ids))
