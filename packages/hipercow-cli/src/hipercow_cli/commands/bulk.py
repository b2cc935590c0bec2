"""`hipercow bulk ...`: many tasks from a template and data, made and submitted as one bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipercow_cli import output
from hipercow_cli.commands.task import DependsOn, Env, Environment, task_options
from hipercow_cli.options import Driver, Json, with_resource_options
from hipercow_core import bulk
from hipercow_core.root import Root
from hipercow_core.schema import Resources
from hipercow_core.tasks import TaskSpec

app = typer.Typer(help="Create many tasks at once from a template and data.", no_args_is_help=True)

Data = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        help="Data: x=1..10 (inclusive), x=1:10 (end excluded), x=a,b,c, or a CSV file (repeatable).",
    ),
]
Zip = Annotated[
    bool, typer.Option("--zip", help="Pair data up row by row instead of every combination.")
]
Name = Annotated[
    str | None, typer.Option("--name", help="Bundle name (default: a readable random one).")
]
Preview = Annotated[bool, typer.Option("--preview", help="Show the tasks and create nothing.")]
NoSubmit = Annotated[
    bool,
    typer.Option(
        "--no-submit", help="Create the tasks but do not submit them ('task submit' later)."
    ),
]

PREVIEW_EDGE = 3


def load_data(specs: list[str] | None, zip_rows: bool) -> bulk.Table:
    from hipercow_core.errors import InvalidInputError

    if not specs:
        raise InvalidInputError(
            "no --data given", "Give data such as --data x=1..10 or --data file.csv."
        )
    return bulk.combine([bulk.parse_data(s, Path.cwd()) for s in specs], zip_rows=zip_rows)


def show_preview(lines: list[str]) -> None:
    if len(lines) <= 2 * PREVIEW_EDGE + 1:
        shown = lines
    else:
        hidden = len(lines) - 2 * PREVIEW_EDGE
        shown = [*lines[:PREVIEW_EDGE], f"... {hidden} more ...", *lines[-PREVIEW_EDGE:]]
    for line in shown:
        output.out(line)
    output.err(f"{len(lines)} task{'s' if len(lines) != 1 else ''} would be created (nothing was)")


def make_bundle(
    root: Root,
    specs: list[TaskSpec],
    name: str | None,
    command: tuple[str, ...],
    driver: str | None,
    as_json: bool,
    submit: bool = True,
) -> None:
    """Create the tasks, record them as a bundle, then submit them in one batch.

    The bundle's name is reserved first (so the tasks can carry it) and
    released again if the tasks cannot be created, so bad input leaves nothing.
    """
    import msgspec

    from hipercow_core.bundles import bundle_path, replace_bundle, save_bundle
    from hipercow_core.drivers.registry import get_driver
    from hipercow_core.tasks import create_tasks, submit_with

    reserved = save_bundle(root, [], name, command)
    try:
        specs = [msgspec.structs.replace(s, bundle=reserved.name) for s in specs]
        ids = create_tasks(root, specs, driver=driver, submit=False)
    except BaseException:
        bundle_path(root, reserved.name).unlink(missing_ok=True)
        raise
    replace_bundle(root, msgspec.structs.replace(reserved, task_ids=tuple(ids)))
    if submit:
        submit_with(root, get_driver(root, driver), ids)
    if as_json:
        output.emit_json({"bundle": reserved.name, "task_ids": ids})
    else:
        output.success(f"Created bundle '{reserved.name}' with {len(ids)} tasks")


@app.command("create", context_settings={"allow_interspersed_args": False})
@with_resource_options
def create(
    template: Annotated[
        list[str],
        typer.Argument(help="The command after '--', with @name placeholders.", show_default=False),
    ],
    data: Data = None,
    zip_rows: Zip = False,
    name: Name = None,
    preview: Preview = False,
    no_submit: NoSubmit = False,
    env: Env = None,
    environment: Environment = None,
    depends_on: DependsOn = None,
    driver: Driver = None,
    as_json: Json = False,
    *,
    resources: Resources,
) -> None:
    """Create one task per row of data, filling @name placeholders in the command.

    Example: hipercow bulk create --data n=1..100 --data model=a,b -- python fit.py --n @n --model @model
    """
    table = load_data(data, zip_rows)
    bulk.check_names(bulk.template_names(template), table)
    commands = [bulk.expand(template, row) for row in bulk.rows(table)]
    if preview:
        show_preview([output.show_command(c) for c in commands])
        return
    root = Root.find()
    shared = task_options(root, resources, env, environment, depends_on)
    specs = [TaskSpec(command=c, **shared) for c in commands]
    make_bundle(root, specs, name, tuple(template), driver, as_json, submit=not no_submit)


@app.command("call")
@with_resource_options
def call(
    target: Annotated[str, typer.Argument(help="module:function to call.", show_default=False)],
    data: Data = None,
    zip_rows: Zip = False,
    name: Name = None,
    preview: Preview = False,
    env: Env = None,
    environment: Environment = None,
    depends_on: DependsOn = None,
    driver: Driver = None,
    as_json: Json = False,
    *,
    resources: Resources,
) -> None:
    """Call a function once per row of data, with the data names as keyword arguments.

    Example: hipercow bulk call analysis:fit --data seed=1..50 --data method=ols,ridge
    """
    from hipercow_core import pytasks

    table = load_data(data, zip_rows)
    calls = [{k: pytasks.parse_cli_argument(v) for k, v in row.items()} for row in bulk.rows(table)]
    if preview:
        show_preview([f"{target}({', '.join(f'{k}={v!r}' for k, v in c.items())})" for c in calls])
        return
    root = Root.find()
    pytasks.check_target(target, Path.cwd(), environment, root)
    shared = task_options(root, resources, env, environment, depends_on)
    specs = [
        pytasks.call_spec(target, (), kwargs, cwd=Path.cwd(), check=False, **shared)
        for kwargs in calls
    ]
    make_bundle(root, specs, name, (target,), driver, as_json)
