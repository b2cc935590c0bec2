"""`hipercow purge`: remove finished tasks (whole retry chains) and bundles left empty."""

from __future__ import annotations

from typing import Annotated

import typer

from hipercow_cli import output
from hipercow_cli.commands.task import parse_since, parse_statuses
from hipercow_cli.options import Json
from hipercow_core.root import Root


def purge(
    status_filter: Annotated[
        list[str] | None,
        typer.Option("--status", help="Only tasks with these statuses (default: all finished)."),
    ] = None,
    older_than: Annotated[
        str | None, typer.Option(help="Only tasks created longer ago than this: 7d, 12h.")
    ] = None,
    bundle: Annotated[str | None, typer.Option(help="Only tasks of this bundle.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go; remove nothing.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Remove finished tasks, their retry chains and bundles left empty; never running tasks."""
    from hipercow_core.purge import plan_purge, purge_tasks

    root = Root.find()
    plan = plan_purge(
        root,
        statuses=parse_statuses(status_filter),
        older_than=parse_since(older_than, "--older-than") if older_than is not None else None,
        bundle=bundle,
    )
    if not dry_run:
        purge_tasks(root, plan)
    if as_json:
        output.emit_json(
            {
                "dry_run": dry_run,
                "tasks": plan.task_ids,
                "bundles": plan.bundles_emptied,
                "unreadable": plan.unreadable,
            }
        )
        return
    verb = "Would remove" if dry_run else "Removed"
    bundles_note = (
        f" and {len(plan.bundles_emptied)} empty bundle(s)" if plan.bundles_emptied else ""
    )
    output.out(f"{verb} {len(plan.task_ids)} task(s){bundles_note}")
    if plan.unreadable:
        output.warn(
            f"{plan.unreadable} unreadable task(s) left alone; "
            "'hipercow purge --status unreadable' removes them"
        )
