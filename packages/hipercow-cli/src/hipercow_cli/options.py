"""Options shared by several commands, declared once."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from hipercow_cli import completion
from hipercow_core.resources import parse_resources
from hipercow_core.schema import Resources

R = TypeVar("R")

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
    typer.Option(
        help="Queue or partition (default: the cluster's).",
        rich_help_panel=RESOURCES,
        autocompletion=completion.queues,
    ),
]
ThreadsPerProcess = Annotated[
    str | None,
    typer.Option(
        help="For a task that starts its own processes: threads each may use"
        " (OMP_NUM_THREADS and the like; default: all its cores).",
        rich_help_panel=RESOURCES,
    ),
]
ThreadVariables = Annotated[
    bool,
    typer.Option(
        "--thread-variables/--no-thread-variables",
        help="Set OMP_NUM_THREADS, MKL_NUM_THREADS, MC_CORES, ... from the task's cores"
        " (--env always wins).",
        rich_help_panel=RESOURCES,
    ),
]


def check_driver(value: str | None) -> str | None:
    """A `--driver` must name an installed driver: an empty name would mean the default."""
    if value is not None:
        from hipercow_core.drivers.registry import load_driver_class

        load_driver_class(value)
    return value


Driver = Annotated[
    str | None,
    typer.Option(
        callback=check_driver,
        help="Driver to use (default: the configured one, or 'local').",
        autocompletion=completion.driver_names,
    ),
]


_RESOURCE_PARAMETERS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
    for name, annotation, default in (
        ("cores", Cores, None),
        ("exclusive", Exclusive, False),
        ("max_runtime", MaxRuntime, None),
        ("hold_until", HoldUntil, None),
        ("memory_per_node", MemoryPerNode, None),
        ("memory_per_task", MemoryPerTask, None),
        ("node", RequestedNodes, None),
        ("priority", Priority, None),
        ("queue", Queue, None),
        ("threads_per_process", ThreadsPerProcess, None),
        ("thread_variables", ThreadVariables, True),
    )
]


def with_resource_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give a command every resource option, parsed into its `resources` argument.

    Typer reads a command's signature, so the options are added to the
    signature once here instead of being repeated in every command that
    creates tasks.
    """
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "resources"]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        given = {p.name: kwargs.pop(p.name) for p in _RESOURCE_PARAMETERS}
        nodes = given.pop("node")
        resources = parse_resources(requested_nodes=nodes or (), **given)
        return command(*args, resources=resources, **kwargs)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*kept, *_RESOURCE_PARAMETERS]
    )
    return wrapper


_FIELD_OF_OPTION = {"node": "requested_nodes"}


def given_resource_fields(resources: Resources) -> dict[str, Any]:
    """The resource fields the user typed on this command line, with their parsed values.

    Lets a command change only what was asked (a retry keeps the rest),
    which a `Resources` full of defaults cannot tell.
    """
    import click
    from click.core import ParameterSource

    context = click.get_current_context()
    given = {}
    for parameter in _RESOURCE_PARAMETERS:
        if context.get_parameter_source(parameter.name) == ParameterSource.COMMANDLINE:
            field = _FIELD_OF_OPTION.get(parameter.name, parameter.name)
            given[field] = getattr(resources, field)
    return given


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    """`NAME=VALUE` texts as a dict; the error names the option that was wrong.

    A name given twice is refused: which one was meant cannot be guessed.
    """
    from hipercow_core.errors import InvalidInputError

    result: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInputError(
                f"{what} '{pair}' is not of the form NAME=VALUE", "Write it as NAME=VALUE."
            )
        if name in result:
            raise InvalidInputError(
                f"{what} '{name}' is given more than once", "Give each name once."
            )
        result[name] = value
    return result


# --- secrets: `--secret NAME` / `--secret NAME=ENVVAR` on every creating command ---

Secret = Annotated[
    list[str] | None,
    typer.Option(
        "--secret",
        help="Secret variable NAME from 'hipercow secret set', or NAME=ENVVAR from this"
        " machine's environment; encrypted for the nodes (repeatable).",
        show_default=False,
    ),
]
_SECRET_PARAMETER = inspect.Parameter(
    "secret", inspect.Parameter.KEYWORD_ONLY, annotation=Secret, default=None
)


def with_secret_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give a command `--secret`, parsed into its `secrets` argument (requests, not values).

    The values are read and sealed later, once the command knows its root,
    so a bad option is refused before any keyring is asked.
    """
    from hipercow_core.secret_store import parse_request

    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "secrets"]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        given: list[str] = kwargs.pop("secret") or []
        return command(*args, secrets=[parse_request(t) for t in given], **kwargs)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*kept, _SECRET_PARAMETER]
    )
    return wrapper


def check_timeout(value: float | None) -> float | None:
    """A `--timeout` must be a number of seconds that can pass: not negative, not nan."""
    import math

    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"{value:g} is not a number of seconds (0 or more)")
    return value


NoSubmit = Annotated[
    bool,
    typer.Option(
        "--no-submit", help="Create the tasks but do not submit them ('task submit' later)."
    ),
]

Timeout = Annotated[
    float | None,
    typer.Option(callback=check_timeout, help="Give up after this many seconds (exit code 1)."),
]
