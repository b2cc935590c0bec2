"""`hipercow bundle ...`: follow, retry and clean up groups of tasks made together."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hipercow_cli import output
from hipercow_cli.commands.task import NoFollow, parse_statuses
from hipercow_cli.options import Driver, Json, Timeout
from hipercow_core import bundles
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus

app = typer.Typer(
    help="Groups of tasks made together: status, wait, retry, logs.", no_args_is_help=True
)

BundleName = Annotated[str, typer.Argument(help="Bundle name.", show_default=False)]


def bundle_tasks(root: Root, name: str, no_follow: bool) -> tuple[list[str], list[str]]:
    """The bundle's task ids, and each followed to its latest retry (unless --no-follow)."""
    from hipercow_core.retry import follow

    ids = list(bundles.load_bundle(root, name).task_ids)
    return ids, follow(root, ids, enabled=not no_follow)


def show_counts(counts: dict[TaskStatus, int]) -> str:
    return ", ".join(f"{n} {output.status_text(s)}" for s, n in counts.items()) or "no tasks"


@app.command("list")
def list_(as_json: Json = False) -> None:
    """Bundles of this root, newest first, with their tasks' statuses."""
    from hipercow_core.store import file_statuses

    root = Root.find()
    rows = []
    readable, broken = bundles.scan_bundles(root)
    for b in readable:
        found = file_statuses(root, b.task_ids, follow=True)
        counts = bundles.counts(status for _, status in found.values())
        rows.append((b, counts))
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
    as_json: Json = False,
) -> None:
    """Status of each task of a bundle, or a summary."""
    from hipercow_core.errors import InvalidInputError
    from hipercow_core.tasks import followed_statuses

    root = Root.find()
    ids = list(bundles.load_bundle(root, name).task_ids)
    found = followed_statuses(root, ids, follow=not no_follow)
    statuses = [found[t][1] for t in ids]
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
        output.emit_json([{"id": i, "status": s} for i, s in zip(ids, statuses, strict=True)])
    else:
        sys.stdout.write(
            "".join(f"{i}  {output.status_text(s)}\n" for i, s in zip(ids, statuses, strict=True))
        )


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
    from hipercow_core.tasks import wait_tasks

    root = Root.find()
    _, latest = bundle_tasks(root, name, no_follow)
    with output.progress(f"Bundle {name}", total=len(latest)) as update:

        def show(statuses: dict[str, TaskStatus]) -> None:
            counts = bundles.counts(statuses.values())
            done = sum(n for s, n in counts.items() if s.is_terminal)
            update(done, show_counts(counts))

        final = wait_tasks(root, latest, timeout=timeout, fail_early=fail_early, on_poll=show)
    counts = bundles.counts(final.values())
    if as_json:
        output.emit_json({"bundle": name, "counts": {str(s): n for s, n in counts.items()}})
    else:
        output.err(f"Bundle {name}: {show_counts(counts)}")
    if any(s != TaskStatus.SUCCESS for s in final.values()):
        raise typer.Exit(1)


@app.command("retry")
def retry(
    name: BundleName,
    status_filter: Annotated[
        list[str] | None,
        typer.Option(
            "--status", help="Retry tasks with these statuses (default: failure,cancelled)."
        ),
    ] = None,
    driver: Driver = None,
    as_json: Json = False,
) -> None:
    """Retry the bundle's finished tasks whose status is chosen; each keeps its resources."""
    from hipercow_core.errors import InvalidInputError
    from hipercow_core.retry import retry_tasks
    from hipercow_core.tasks import tasks_status

    root = Root.find()
    chosen = set(parse_statuses(status_filter) or [TaskStatus.FAILURE, TaskStatus.CANCELLED])
    if not all(s.is_terminal for s in chosen):
        raise InvalidInputError(
            "only finished tasks can be retried", "Use --status with success, failure or cancelled."
        )
    _, latest = bundle_tasks(root, name, no_follow=False)
    found = tasks_status(root, latest)
    selected = [t for t in latest if found[t] in chosen]
    done = retry_tasks(root, selected, driver=driver).retried if selected else {}
    if as_json:
        output.emit_json(done)
    else:
        output.success(f"Retried {len(done)} of {len(latest)} tasks in bundle '{name}'")


@app.command("cancel")
def cancel(name: BundleName, as_json: Json = False) -> None:
    """Cancel every unfinished task of a bundle."""
    from hipercow_core.tasks import cancel_tasks

    root = Root.find()
    _, latest = bundle_tasks(root, name, no_follow=False)
    result = cancel_tasks(root, latest)
    cancelled = sum(result.values())
    if as_json:
        output.emit_json(result)
    else:
        output.out(f"Cancelled {cancelled} of {len(latest)} tasks in bundle '{name}'")


@app.command("log")
def log(
    name: BundleName,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only tasks that did not succeed.")
    ] = False,
    no_follow: NoFollow = False,
) -> None:
    """The logs of a bundle's tasks, one after the other with a header each."""
    from hipercow_core.tasks import task_log, tasks_status

    root = Root.find()
    _, latest = bundle_tasks(root, name, no_follow)
    found = tasks_status(root, latest)
    for task_id in latest:
        if failed and found[task_id] in (
            TaskStatus.SUCCESS,
            TaskStatus.CREATED,
            TaskStatus.SUBMITTED,
            TaskStatus.RUNNING,
        ):
            continue
        output.out(f"==> {task_id} ({found[task_id]}) <==")
        sys.stdout.write(task_log(root, task_id) or "")


@app.command("result")
def result(name: BundleName, no_follow: NoFollow = False) -> None:
    """Results of a bundle's Python tasks as JSON, in task order; errors as objects."""
    from hipercow_core.errors import HipercowError
    from hipercow_core.pytasks import TaskFailedError, task_result

    root = Root.find()
    _, latest = bundle_tasks(root, name, no_follow)
    values: list[object] = []
    for task_id in latest:
        try:
            values.append({"id": task_id, "value": task_result(root, task_id)})
        except TaskFailedError as e:
            values.append(
                {"id": task_id, "error": {"type": e.error_type, "message": e.error_message}}
            )
        except HipercowError as e:
            values.append({"id": task_id, "error": {"type": "NoResult", "message": e.message}})
    output.emit_json_value(values)


@app.command("delete")
def delete(name: BundleName) -> None:
    """Forget a bundle; its tasks are kept."""
    bundles.delete_bundle(Root.find(), name)
    output.success(f"Deleted bundle '{name}' (its tasks are kept)")
