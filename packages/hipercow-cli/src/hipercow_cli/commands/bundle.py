"""`hipercow bundle ...`: follow, retry and clean up groups of tasks made together."""

from __future__ import annotations

import sys
from typing import Annotated

import msgspec
import typer

from hipercow_cli import completion, output
from hipercow_cli.commands.task import NoFollow, parse_statuses
from hipercow_cli.options import Driver, Json, Timeout
from hipercow_core import bundle_tasks, bundles
from hipercow_core.root import Root
from hipercow_core.schema import DataValue, TaskStatus

app = typer.Typer(
    help="Groups of tasks made together: status, wait, retry, logs.", no_args_is_help=True
)

BundleName = Annotated[
    str,
    typer.Argument(help="Bundle name.", show_default=False, autocompletion=completion.bundle_names),
]


def show_data(values: dict[str, DataValue] | None) -> str:
    """A task's data values as they were given: x=0.1 model=a."""
    return " ".join(f"{k}={v}" for k, v in (values or {}).items())


def show_counts(counts: dict[TaskStatus, int]) -> str:
    return ", ".join(f"{n} {output.status_text(s)}" for s, n in counts.items()) or "no tasks"


@app.command("list")
def list_(as_json: Json = False) -> None:
    """Bundles of this root, newest first, with their tasks' statuses."""
    root = Root.find()
    rows = [(s.bundle, s.counts) for s in bundle_tasks.bundle_summaries(root)]
    broken = bundles.scan_bundles(root)[1]
    if as_json:
        output.emit_json(
            [
                {
                    "name": b.name,
                    "created": b.created,
                    "tasks": len(b.task_ids),
                    "counts": {str(s): n for s, n in c.items()},
                }
                for b, c in rows
            ]
            + [{"name": n, "status": "unreadable", "problem": p} for n, p in broken.items()]
        )
        return
    for b, counts in rows:
        output.out(
            f"{b.name:<24} {output.show_time(b.created)}  {len(b.task_ids):>6} tasks  {show_counts(counts)}"
        )
    for bundle_name, problem in sorted(broken.items()):
        output.out(f"{bundle_name:<24} {output.status_text('unreadable')}  {problem}")


@app.command("status")
def status(
    name: BundleName,
    summary: Annotated[
        str | None, typer.Option(help="'counts' (tasks per status) or 'worst' (one status).")
    ] = None,
    no_follow: NoFollow = False,
    usage: Annotated[
        bool,
        typer.Option(
            "--usage", help="What each task used (CPU, wall time, peak memory), with totals."
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Status of each task of a bundle, or a summary."""
    from hipercow_core.errors import InvalidInputError

    root = Root.find()
    if usage:
        if summary is not None:
            raise InvalidInputError("--usage and --summary cannot be used together", "Choose one.")
        show_usage(root, name, not no_follow, as_json)
        return
    waiting: dict[str, str] = {}
    found = bundle_tasks.bundle_statuses(root, name, follow=not no_follow, waiting=waiting)
    values = bundles.data_of(bundles.load_bundle(root, name))
    ids = list(found)
    statuses = [status for _, status in found.values()]
    why = {i: waiting[latest] for i, (latest, s) in found.items() if latest in waiting}
    if summary == "counts":
        counts = bundles.counts(statuses)
        if as_json:
            output.emit_json({str(s): n for s, n in counts.items()})
        else:
            for s, n in counts.items():
                output.out(f"{output.status_text(s):<9}  {n}")
    elif summary == "worst":
        worst = bundles.worst(statuses)
        output.emit_json({"bundle": name, "status": worst}) if as_json else output.out(
            output.status_text(worst)
        )
    elif summary is not None:
        raise InvalidInputError(f"--summary '{summary}' is not known", "Use 'counts' or 'worst'.")
    elif as_json:
        output.emit_json(
            [
                {"id": i, "status": s, "data": values.get(i, {})}
                | ({"waiting": why[i]} if i in why else {})
                for i, s in zip(ids, statuses, strict=True)
            ]
        )
    else:
        width = max((len(s) for s in statuses), default=0)
        sys.stdout.write(
            "".join(
                f"{i}  {output.status_text(s)}{' ' * (width - len(s))}  {show_data(values.get(i))}"
                f"{'  (' + why[i] + ')' if i in why else ''}".rstrip()
                + "\n"
                for i, s in zip(ids, statuses, strict=True)
            )
        )


def show_usage(root: Root, name: str, follow: bool, as_json: bool) -> None:
    """`bundle status --usage`: a row per task (its latest attempt) and a row of totals."""
    from hipercow_cli.usage import total_row, usage_row
    from hipercow_core.usage import total

    found = bundle_tasks.bundle_statuses(root, name, follow=follow)
    usages = bundle_tasks.bundle_usage(root, name, follow=follow)
    summed = total(usages.values())
    if as_json:
        output.emit_json(
            {
                "tasks": [
                    {"id": latest, "status": status, "usage": usages.get(latest)}
                    for latest, status in found.values()
                ],
                "total": {**msgspec.to_builtins(summed), "cpu_share": summed.cpu_share},
            }
        )
        return
    grid = output.table("task", "status", "CPU", "wall", "cores", "CPU %", "peak memory")
    for latest, status in found.values():
        grid.add_row(latest, str(status), *usage_row(usages.get(latest)))
    grid.add_row(f"total ({output.count(summed.tasks, 'task')} measured)", "", *total_row(summed))
    output.print_table(grid)


@app.command("wait")
def wait(
    name: BundleName,
    timeout: Timeout = None,
    fail_early: Annotated[
        bool, typer.Option("--fail-early", help="Stop at the first task that does not succeed.")
    ] = False,
    no_follow: NoFollow = False,
    as_json: Json = False,
) -> None:
    """Wait for every task of a bundle; exits 0 only if every task succeeded."""
    root = Root.find()
    total = len(bundles.load_bundle(root, name).task_ids)
    with output.progress(f"Bundle {name}", total=total) as update:

        def show(statuses: dict[str, TaskStatus]) -> None:
            counts = bundles.counts(statuses.values())
            done = sum(n for s, n in counts.items() if s.is_terminal)
            failed = TaskStatus.FAILURE in counts or TaskStatus.CANCELLED in counts
            update(done, show_counts(counts), failed)

        final = bundle_tasks.wait_bundle(
            root, name, timeout=timeout, fail_early=fail_early, follow=not no_follow, on_poll=show
        )
    counts = bundles.counts(final.values())
    if as_json:
        output.emit_json({"bundle": name, "counts": {str(s): n for s, n in counts.items()}})
    else:
        from hipercow_cli.failures import explain_tasks

        output.err(f"Bundle {name}: {show_counts(counts)}")
        explain_tasks(root, final, name)
    if any(s != TaskStatus.SUCCESS for s in final.values()):
        raise typer.Exit(1)


@app.command("retry")
def retry(
    name: BundleName,
    status_filter: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Retry tasks with these statuses (default: failure,cancelled).",
            autocompletion=completion.statuses,
        ),
    ] = None,
    driver: Driver = None,
    as_json: Json = False,
) -> None:
    """Retry the bundle's finished tasks whose status is chosen; each keeps its resources."""
    root = Root.find()
    chosen = parse_statuses(status_filter)
    done = bundle_tasks.retry_bundle(root, name, statuses=chosen, driver=driver)
    if as_json:
        output.emit_json(done)
    else:
        total = len(bundles.load_bundle(root, name).task_ids)
        output.success(f"Retried {len(done)} of {total} tasks in bundle '{name}'")


@app.command("cancel")
def cancel(name: BundleName, as_json: Json = False) -> None:
    """Cancel every unfinished task of a bundle."""
    result = bundle_tasks.cancel_bundle(Root.find(), name)
    cancelled = sum(result.values())
    if as_json:
        output.emit_json(result)
    else:
        output.out(f"Cancelled {cancelled} of {len(result)} tasks in bundle '{name}'")


@app.command("log")
def log(
    name: BundleName,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only tasks that did not succeed.")
    ] = False,
    no_follow: NoFollow = False,
) -> None:
    """The logs of a bundle's tasks, one after the other with a header each."""
    from hipercow_core.tasks import task_log

    root = Root.find()
    found = bundle_tasks.bundle_statuses(root, name, follow=not no_follow)
    values = bundles.data_of(bundles.load_bundle(root, name))
    for original, (task_id, status) in found.items():
        if failed and not bundle_tasks.did_not_succeed(status):
            continue
        shown = show_data(values.get(original))
        output.out(f"==> {task_id} ({status}){' ' + shown if shown else ''} <==")
        sys.stdout.write(task_log(root, task_id) or "")


ResultFormat = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="One row per task with its inputs, status, value, error and runtime:"
        " table, csv, tsv or jsonl.",
    ),
]


@app.command("result")
def result(
    name: BundleName,
    no_follow: NoFollow = False,
    as_json: Json = False,
    table_format: ResultFormat = None,
) -> None:
    """Results of a bundle's Python tasks in task order; exits 1 if any task has none.

    As `task result`: values as Python shows them, or with --json one JSON
    array with an object per task (errors as objects). With --format, the
    sweep as one table: the task's data (its inputs), status, value (a dict's
    keys as columns), error message and runtime.
    """
    from hipercow_core.errors import HipercowError, InvalidInputError
    from hipercow_core.pytasks import TaskFailedError, task_result

    root = Root.find()
    if table_format is not None:
        from hipercow_cli.result_tables import render_results
        from hipercow_core.sweep_results import bundle_results

        if table_format not in ("table", "csv", "tsv", "jsonl"):
            raise InvalidInputError(
                f"--format '{table_format}' is not known", "Use table, csv, tsv or jsonl."
            )
        rows = bundle_results(root, name, follow=not no_follow)
        render_results(rows, table_format)
        if any(row["status"] != TaskStatus.SUCCESS for row in rows):
            raise typer.Exit(1)
        return
    latest = bundle_tasks.bundle_task_ids(root, name, follow=not no_follow)
    values: list[dict[str, object]] = []
    for task_id in latest:
        try:
            values.append({"id": task_id, "value": task_result(root, task_id)})
        except TaskFailedError as e:
            values.append(
                {"id": task_id, "error": {"type": e.error_type, "message": e.error_message}}
            )
        except HipercowError as e:
            values.append({"id": task_id, "error": {"type": "NoResult", "message": e.message}})
    if as_json:
        output.emit_json_value(values)
    else:
        for entry in values:
            error = entry.get("error")
            if isinstance(error, dict):
                output.out(f"{entry['id']}  error: {error['type']}: {error['message']}")
            else:
                output.out(f"{entry['id']}  {output.show_value(entry['value'])}")
    if any("error" in entry for entry in values):
        raise typer.Exit(1)


@app.command("delete")
def delete(name: BundleName) -> None:
    """Forget a bundle; its tasks are kept."""
    bundles.delete_bundle(Root.find(), name)
    output.success(f"Deleted bundle '{name}' (its tasks are kept)")
