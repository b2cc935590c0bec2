"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer
from hipercow_core.resources import parse_resources
from hipercow_core.schema import Resources

RESOURCES = "Resources"

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Cores = Annotated[
    str | None,
    typer.Option(help="Cores for the task, or 'node' for a whole node.", rich_help_panel=RESOURCES),
]
Exclusive = Annotated[
    bool, typer.Option("--exclusive", help="No other job on the node.", rich_help_panel=RESOURCES)
]
MaxRuntime = Annotated[
    str | None,
    typer.Option(help="Wall-clock limit: 90 (minutes), 45m, 1h30, 2d.", rich_help_panel=RESOURCES),
]
HoldUntil = Annotated[
    str | None,
    typer.Option(
        help="Start no earlier than: 2h, 2026-12-01T09:00, tonight, midnight, weekend.",
        rich_help_panel=RESOURCES,
    ),
]
MemoryPerNode = Annotated[
    str | None,
    typer.Option(
        help="Memory the node must have: 4 (GB), 512M, 4G, 1T.", rich_help_panel=RESOURCES
    ),
]
MemoryPerTask = Annotated[
    str | None,
    typer.Option(help="Memory the task will use: 4 (GB), 512M, 4G.", rich_help_panel=RESOURCES),
]
RequestedNodes = Annotated[
    list[str] | None,
    typer.Option("--node", help="Run only on this node (repeatable).", rich_help_panel=RESOURCES),
]
Priority = Annotated[str | None, typer.Option(help="'low' or 'normal'.", rich_help_panel=RESOURCES)]
Queue = Annotated[
    str | None,
    typer.Option(help="Queue or partition (default: the cluster's).", rich_help_panel=RESOURCES),
]
Driver = Annotated[
    str | None, typer.Option(help="Driver to use (default: the configured one, or 'local').")
]


def resources_from(
    cores: str | None,
    exclusive: bool,
    max_runtime: str | None,
    hold_until: str | None,
    memory_per_node: str | None,
    memory_per_task: str | None,
    nodes: list[str] | None,
    priority: str | None,
    queue: str | None,
) -> Resources:
    return parse_resources(
        cores=cores,
        exclusive=exclusive,
        max_runtime=max_runtime,
        hold_until=hold_until,
        memory_per_node=memory_per_node,
        memory_per_task=memory_per_task,
        requested_nodes=nodes or (),
        priority=priority,
        queue=queue,
    )


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    """`NAME=VALUE` texts as a dict; the error names the option that was wrong."""
    from hipercow_core.errors import InvalidInputError

    result: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInputError(
                f"{what} '{pair}' is not of the form NAME=VALUE", "Write it as NAME=VALUE."
            )
        result[name] = value
    return result
