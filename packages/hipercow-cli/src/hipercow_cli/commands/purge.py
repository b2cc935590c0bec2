"""`hipercow purge`: remove finished tasks (whole retry chains) and bundles left empty."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hipercow_cli import completion, output
from hipercow_cli.commands.task import parse_since, parse_statuses
from hipercow_cli.options import Json
from hipercow_core.root import Root

if TYPE_CHECKING:
    from hipercow_core.purge import PurgePlan


def purge(
    status_filter: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only tasks with these statuses (default: all finished).",
            autocompletion=completion.statuses,
        ),
    ] = None,
    older_than: Annotated[
        str | None, typer.Option(help="Only tasks created longer ago than this: 7d, 12h.")
    ] = None,
    bundle: Annotated[
        str | None,
        typer.Option(help="Only tasks of this bundle.", autocompletion=completion.bundle_names),
    ] = None,
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
                "details": plan.tasks,
                "bundles": plan.bundles_emptied,
                "kept": plan.kept,
                "unreadable": plan.unreadable,
            }
        )
        return
    verb = "Would remove" if dry_run else "Removed"
    bundles_note = (
        f" and {len(plan.bundles_emptied)} empty bundle(s)" if plan.bundles_emptied else ""
    )
    if dry_run and plan.tasks:
        show_plan(plan)
    output.out(f"{verb} {len(plan.task_ids)} task(s){bundles_note}")
    for task_id, dependents in plan.kept.items():
        shown = ", ".join(dependents[:3]) + (
            f" and {len(dependents) - 3} more" if len(dependents) > 3 else ""
        )
        output.out(f"Kept {task_id}: unfinished task(s) depend on it ({shown})")
    if plan.unreadable:
        output.warn(
            f"{plan.unreadable} unreadable task(s) left alone; "
            "'hipercow purge --status unreadable' removes them"
        )


def show_plan(plan: PurgePlan) -> None:
    """One line per task that would go, so a person can check before purging for real."""
    rows = [("ID", "STATUS", "BUNDLE", "AGE")]
    for t in plan.tasks:
        status = f"{t.status} (retried as {t.retried_by})" if t.retried_by else str(t.status)
        rows.append((t.id, status, t.bundle or "-", output.show_age(t.created)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        output.out("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[3]]))
    if plan.bundles_emptied:
        output.out(f"Bundles left empty: {', '.join(plan.bundles_emptied)}")
