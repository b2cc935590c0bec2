"""`hipercow bulk ...`: many tasks from a template and data, made and submitted as one bundle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer

from hipercow_cli import output
from hipercow_cli.commands.task import (
    AfterAny,
    DependsOn,
    Env,
    Environment,
    MaxLogSize,
    Retries,
    RetryOn,
    RetryScale,
    Tag,
    parse_retry_policy,
    task_options,
)
from hipercow_cli.options import (
    Driver,
    Json,
    NoSubmit,
    with_resource_options,
    with_secret_options,
)
from hipercow_core import bulk
from hipercow_core.root import Root
from hipercow_core.schema import DataValue, Resources
from hipercow_core.secret_store import SecretRequest
from hipercow_core.tasks import TaskSpec

app = typer.Typer(help="Create many tasks at once from a template and data.", no_args_is_help=True)

Data = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        help="Data: x=1..10 (inclusive), x=1:10 (end excluded), x=0.1..0.5:0.1 (by a step),"
        " x=1e-3..1e3:log7 (log-spaced), x=a,b,c, or a CSV file (repeatable).",
    ),
]
Repeat = Annotated[
    int | None,
    typer.Option(
        "--repeat", help="Make each task this many times (without --data: N identical tasks)."
    ),
]
Zip = Annotated[
    bool, typer.Option("--zip", help="Pair data up row by row instead of every combination.")
]
Name = Annotated[
    str | None, typer.Option("--name", help="Bundle name (default: a readable random one).")
]
TaskNames = Annotated[
    str | None,
    typer.Option(
        "--task-name", help="Each task's name, with @name placeholders like the command: 'fit-@n'."
    ),
]
Preview = Annotated[bool, typer.Option("--preview", help="Show the tasks and create nothing.")]

MaxTasks = Annotated[
    int,
    typer.Option(
        "--max-tasks", min=1, help="Refuse to make more tasks than this (a guard against typos)."
    ),
]

PREVIEW_EDGE = 3


def load_data(
    specs: list[str] | None,
    zip_rows: bool,
    times: int | None = None,
    max_tasks: int | None = bulk.DEFAULT_MAX_TASKS,
) -> bulk.Table:
    return bulk.read_data(
        specs or [], Path.cwd(), zip_rows=zip_rows, times=times, max_tasks=max_tasks
    )


def show_preview(first: list[str], last: list[str], count: int, max_tasks: int) -> None:
    """The first and last few tasks and how many there would be; nothing else is built."""
    for line in first:
        output.out(line)
    if last:
        output.out(f"... {count - len(first) - len(last):,} more ...")
    for line in last:
        output.out(line)
    plural = "s" if count != 1 else ""
    if count > max_tasks:
        output.err(
            f"{count:,} task{plural}: over the limit of {max_tasks:,}, so creating them would "
            "be refused (raise it with --max-tasks)"
        )
    else:
        output.err(f"{count:,} task{plural} would be created (nothing was)")


def make_bundle(
    root: Root,
    specs: list[TaskSpec],
    name: str | None,
    command: tuple[str, ...],
    driver: str | None,
    as_json: bool,
    submit: bool = True,
    data: Sequence[Mapping[str, DataValue]] | None = None,
) -> None:
    """Create the tasks as one bundle (see `bundle_tasks.create_bundle`) and say so."""
    from hipercow_core.bundle_tasks import create_bundle

    bundle = create_bundle(
        root, specs, name=name, command=command, driver=driver, submit=submit, data=data or ()
    )
    if as_json:
        output.emit_json({"bundle": bundle.name, "task_ids": bundle.task_ids})
    else:
        output.success(
            f"Created bundle '{bundle.name}' with {output.count(len(bundle.task_ids), 'task')}"
        )


@app.command("create", context_settings={"allow_interspersed_args": False})
@with_resource_options
@with_secret_options
def create(
    template: Annotated[
        list[str],
        typer.Argument(
            help="The command after '--', with @name placeholders (@@ is a literal @).",
            show_default=False,
        ),
    ],
    data: Data = None,
    zip_rows: Zip = False,
    times: Repeat = None,
    name: Name = None,
    task_name: TaskNames = None,
    tag: Tag = None,
    preview: Preview = False,
    no_submit: NoSubmit = False,
    max_tasks: MaxTasks = bulk.DEFAULT_MAX_TASKS,
    env: Env = None,
    environment: Environment = None,
    depends_on: DependsOn = None,
    after_any: AfterAny = None,
    retries: Retries = None,
    retry_on: RetryOn = None,
    retry_scale: RetryScale = None,
    max_log_size: MaxLogSize = None,
    driver: Driver = None,
    as_json: Json = False,
    *,
    resources: Resources,
    secrets: list[SecretRequest],
) -> None:
    """Create one task per row of data, filling @name placeholders in the command.

    Example: hipercow bulk create --data n=1..100 --data model=a,b -- python fit.py --n @n --model @model
    """
    table = load_data(data, zip_rows, times, None if preview else max_tasks)
    bulk.check_names(bulk.template_names(template), table)
    if preview:
        first, last = bulk.preview_rows(table, PREVIEW_EDGE)
        lines = [
            [output.show_command(bulk.expand(template, r)) for r in part] for part in (first, last)
        ]
        show_preview(lines[0], lines[1], len(table), max_tasks)
        return
    commands = bulk.bulk_commands(template, table)
    root = Root.find()
    shared = task_options(
        root,
        resources,
        env,
        environment,
        depends_on,
        secrets,
        tags=tag,
        after_any=after_any,
        retry_policy=parse_retry_policy(retries, retry_on, retry_scale),
        max_log_size=max_log_size,
    )
    shown = bulk.shown_rows(table, times)
    shared.pop("name")
    labels = bulk.row_labels(task_name, table, shown, shared.pop("tags"))
    specs = [
        TaskSpec(command=c, name=n, tags=t, **shared)
        for c, (n, t) in zip(commands, labels, strict=True)
    ]
    make_bundle(
        root, specs, name, tuple(template), driver, as_json, submit=not no_submit, data=shown
    )


@app.command("call")
@with_resource_options
@with_secret_options
def call(
    target: Annotated[str, typer.Argument(help="module:function to call.", show_default=False)],
    data: Data = None,
    zip_rows: Zip = False,
    times: Repeat = None,
    name: Name = None,
    task_name: TaskNames = None,
    tag: Tag = None,
    preview: Preview = False,
    max_tasks: MaxTasks = bulk.DEFAULT_MAX_TASKS,
    env: Env = None,
    environment: Environment = None,
    depends_on: DependsOn = None,
    after_any: AfterAny = None,
    retries: Retries = None,
    retry_on: RetryOn = None,
    retry_scale: RetryScale = None,
    max_log_size: MaxLogSize = None,
    driver: Driver = None,
    as_json: Json = False,
    *,
    resources: Resources,
    secrets: list[SecretRequest],
) -> None:
    """Call a function once per row of data, with the data names as keyword arguments.

    Example: hipercow bulk call analysis:fit --data seed=1..50 --data method=ols,ridge
    """
    from hipercow_core import pytasks

    table = load_data(data, zip_rows, times, None if preview else max_tasks)

    def arguments(row: dict[str, str]) -> dict[str, object]:
        return {k: pytasks.parse_cli_argument(v) for k, v in row.items()}

    def shown(row: dict[str, str]) -> str:
        return f"{target}({', '.join(f'{k}={v!r}' for k, v in arguments(row).items())})"

    if preview:
        first, last = bulk.preview_rows(table, PREVIEW_EDGE)
        show_preview([shown(r) for r in first], [shown(r) for r in last], len(table), max_tasks)
        return
    calls = [arguments(row) for row in bulk.rows(table)]
    root = Root.find()
    pytasks.check_target(target, Path.cwd(), environment, root)
    shared = task_options(
        root,
        resources,
        env,
        environment,
        depends_on,
        secrets,
        tags=tag,
        after_any=after_any,
        retry_policy=parse_retry_policy(retries, retry_on, retry_scale),
        max_log_size=max_log_size,
    )
    rows = bulk.shown_rows(table, times)
    shared.pop("name")
    labels = bulk.row_labels(task_name, table, rows, shared.pop("tags"))
    specs = [
        pytasks.call_spec(target, (), kwargs, cwd=Path.cwd(), check=False, name=n, tags=t, **shared)
        for kwargs, (n, t) in zip(calls, labels, strict=True)
    ]
    # the bundle keeps the arguments as the function got them (2, not "2"): a sweep's inputs
    rows = [
        {k: v if k == "copy" else pytasks.parse_cli_argument(v) for k, v in row.items()}
        for row in bulk.shown_rows(table, times)
    ]
    make_bundle(root, specs, name, (target,), driver, as_json, data=rows)
