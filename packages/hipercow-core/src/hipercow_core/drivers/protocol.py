"""What a driver is: one kind of cluster behind a small, batched interface.

Every call takes many tasks at once, because clusters punish one request per
task (one sbatch per task, one portal login per task). Drivers write status
markers themselves: `submit` writes `submitted`, and `status` writes a
terminal marker with a reason when the scheduler knows a job ended without
its runner saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import msgspec

from hipercow_core.root import Root
from hipercow_core.schema import ClusterInfo, TaskStatus


@runtime_checkable
class Driver(Protocol):
    """A configured driver bound to one root."""

    name: ClassVar[str]
    options_type: ClassVar[type[msgspec.Struct]]

    def submit(self, task_ids: Sequence[str]) -> None:
        """Hand tasks to the scheduler and write their `submitted` markers.

        A task not yet submitted has no directory: make them first
        (`store.ensure_task_dir`) before writing scripts or logs into them.

        Tasks whose submission failed must stay `created` (no marker) and the
        method raises a `DriverError` naming how many were not submitted.
        """
        ...

    def status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """Reconcile non-terminal tasks with the scheduler in one batched query."""
        ...

    def cancel(self, task_ids: Sequence[str]) -> dict[str, bool]:
        """Cancel tasks; True for each that this call cancelled."""
        ...

    def outer_log(self, task_id: str) -> str | None:
        """The scheduler's own log of the task's job, or None if it has none."""
        ...

    def cluster_info(self) -> ClusterInfo:
        """Queues, nodes, cores, memory and limits used to validate resources."""
        ...


class DriverFactory(Protocol):
    """A driver class: constructed with the root and its parsed options."""

    @property
    def name(self) -> str: ...

    @property
    def options_type(self) -> type[msgspec.Struct]: ...

    def __call__(self, root: Root, options: msgspec.Struct) -> Driver: ...


def task_file(root: Root, task_id: str, name: str) -> Path:
    """A driver's own file inside the task directory."""
    return root.task_dir(task_id) / name
