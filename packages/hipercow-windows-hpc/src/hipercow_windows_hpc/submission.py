"""A task's resources as the fields of the portal's submit form.

Every resource hipercow knows has a field on the portal (queue `template`,
cores `rc`/`rt`, `exc`, `mpn`, `epm`, `rnt`, `hu`, `rn`, `pri`); optional
ones are sent only when the task asks for them, so the portal's own defaults
apply otherwise. A hold is sent as minutes from now: core resolves it once
per submission (so a batch agrees), and minutes do not depend on the
portal's time zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from hipercow_core.schema import Resources
from hipercow_windows_hpc.wire import b64


def resource_fields(
    resources: Resources, default_queue: str, now: datetime, not_before: datetime | None = None
) -> dict[str, str]:
    """The resource fields of a submission, as plain text (before encoding)."""
    fields = {"template": resources.queue or default_queue}
    if resources.cores == "node":
        fields.update(rc="1", rt="Nodes")
    else:
        fields.update(rc=str(resources.cores), rt="Cores")
    if resources.exclusive:
        fields["exc"] = "1"
    if resources.memory_per_node is not None:
        fields["mpn"] = str(resources.memory_per_node)
    if resources.memory_per_task is not None:
        fields["epm"] = str(resources.memory_per_task)
    if resources.max_runtime is not None:
        fields["rnt"] = str(resources.max_runtime)
    if not_before is not None:
        minutes = math.ceil((not_before - now).total_seconds() / 60)
        if minutes > 0:
            fields["hu"] = str(minutes)
    if resources.requested_nodes:
        fields["rn"] = ",".join(resources.requested_nodes)
    if resources.priority != "normal":
        fields["pri"] = resources.priority
    return fields


def submit_fields(
    *,
    head_node: str,
    command: str,
    workdir: str,
    resources: dict[str, str],
    depends_on: Sequence[str] = (),
) -> dict[str, str]:
    """The encoded submit form, except the job name, function and version the client adds."""
    plain = {
        "cluster": head_node,
        "wd": workdir,
        "se": "",
        "so": "",
        "jobs": command,
        "dep": ",".join(depends_on),
        **resources,
    }
    return {name: b64(value) for name, value in plain.items()}
