"""`hipercow worker ...`: start, watch and stop the pool's workers, and read their logs.

Added to the `hipercow` command through the `hipercow.cli` entry point; this
module is imported by every plugin-scanning invocation, so it imports only
typer and the CLI's helpers at the top. The decisions live in `pool`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hipercow_cli import plugin as output
from hipercow_cli.plugin import Json, with_resource_options
from hipercow_core.schema import Resources

app = typer.Typer(
    help="The worker pool: many small tasks on a few long-lived workers.", no_args_is_help=True
)


def _seconds(text: str) -> float:
    """A duration: seconds (30, 30s), minutes (10m) or hours (1h)."""
    from hipercow_core.errors import InvalidInputError

    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise InvalidInputError(
            f"'{text}' is not a duration", "Give seconds, or e.g. 90s, 10m, 1h."
        ) from None
    return value


@app.command("start")
@with_resource_options
def start(
    count: Annotated[int, typer.Argument(help="How many workers to start.")],
    resources: Resources,
    driver: Annotated[
        str | None,
        typer.Option(help="Cluster driver that runs the workers (default: the configured one)."),
    ] = None,
    environment: Annotated[
        str | None, typer.Option(help="Environment the workers (and their Python tasks) use.")
    ] = None,
    idle_timeout: Annotated[
        str, typer.Option(help="Exit after this long without a task: 600, 90s, 10m, 1h.")
    ] = "10m",
    name: Annotated[str | None, typer.Option(help="Name of the workers' bundle.")] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the workers to register.")
    ] = 600.0,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the workers are submitted.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Submit workers as one bundle of tasks, then wait until they have registered."""
    from hipercow_core.root import Root
    from hipercow_workers import pool

    root = Root.find()
    started = pool.start_workers(
        root,
        count,
        driver=driver,
        resources=resources,
        environment=environment,
        idle_timeout=_seconds(idle_timeout),
        name=name,
    )
    summary = {"bundle": started.bundle, "workers": started.worker_ids, "driver": started.driver}
    if not as_json:
        output.success(
            f"Submitted {count} worker{'s' if count != 1 else ''} through '{started.driver}' "
            f"as bundle '{started.bundle}'"
        )
    if no_wait:
        if as_json:
            output.emit_json(summary)
        return
    last = None
    with output.spinner("Waiting for workers") as status:
        for last in pool.registrations(root, started.worker_ids, timeout=timeout):
            if status is not None:
                status.update(
                    f"Waiting for workers ({last.waiting} waiting, {last.running} running, "
                    f"{len(last.registered)} registered)"
                )
    assert last is not None
    for worker_id, task_status in last.failed.items():
        from hipercow_core.tasks import task_log

        output.warn(f"worker {worker_id} did not start: its task is {task_status}")
        text = task_log(root, worker_id)
        if text:
            output.err(text.rstrip())
    if as_json:
        output.emit_json({**summary, "registered": last.registered})
    else:
        output.out(f"{len(last.registered)} of {count} workers registered")
    if len(last.registered) < count:
        raise typer.Exit(1)


@app.command("status")
def status(as_json: Json = False) -> None:
    """Each worker: host, state (idle, busy, lost, exited), task, tasks done, last heartbeat."""
    from hipercow_core.root import Root
    from hipercow_workers import pool

    rows = pool.worker_rows(Root.find())
    if as_json:
        output.emit_json(
            [
                {
                    "id": r.id,
                    "host": r.host,
                    "pid": r.pid,
                    "state": r.state,
                    "task": r.task,
                    "done": r.done,
                    "last_heartbeat": r.last_beat,
                    "started": r.started,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        output.out("No workers; start some with 'hipercow worker start N'")
        return
    table = output.table("worker", "host", "state", "task", "done", "last heartbeat")
    for r in rows:
        table.add_row(
            r.id, r.host, r.state, r.task or "-", str(r.done), output.show_time(r.last_beat)
        )
    output.print_table(table)


@app.command("stop")
def stop(
    worker_ids: Annotated[
        list[str] | None, typer.Argument(help="Workers to stop (default: all).")
    ] = None,
    when_idle: Annotated[
        bool, typer.Option("--when-idle", help="Let them finish the queue first.")
    ] = False,
) -> None:
    """Stop workers after their current task, or once the queue is empty (--when-idle)."""
    from hipercow_core.root import Root
    from hipercow_workers import pool

    stopped = pool.stop_workers(Root.find(), worker_ids or [], when_idle=when_idle)
    if not stopped:
        output.out("No live workers to stop")
        return
    when = "once the queue is empty" if when_idle else "after their current task"
    output.success(f"Asked {len(stopped)} worker{'s' if len(stopped) != 1 else ''} to stop {when}")


@app.command("log")
def log(worker_id: Annotated[str, typer.Argument(help="The worker (its task id).")]) -> None:
    """A worker's own log: the log of the task it runs as."""
    from hipercow_core.root import Root
    from hipercow_core.tasks import task_log
    from hipercow_workers import pool

    root = Root.find()
    text = task_log(root, pool.worker_task(root, worker_id))
    if text:
        output.out(text.rstrip("\n"))


@app.command("requeue")
def requeue() -> None:
    """After Redis lost its data: queue again the pool's tasks that have not started."""
    from hipercow_core.root import Root
    from hipercow_workers import pool

    again = pool.requeue(Root.find())
    if again:
        output.success(f"Queued {len(again)} task{'s' if len(again) != 1 else ''} again")
    else:
        output.out("Every task waiting for the pool is already queued")
