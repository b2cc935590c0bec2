"""`hipercow task ...`: create tasks and see what happened to them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec
import typer
from hipercow_core.errors import InvalidInputError, TaskNotFoundError
from hipercow_core.root import Root
from hipercow_core.schema import TaskInfo, TaskStatus

from hipercow_cli import output
from hipercow_cli.options import (
    Cores,
    Driver,
    Exclusive,
    HoldUntil,
    Json,
    MaxRuntime,
    MemoryPerNode,
    MemoryPerTask,
    Priority,
    Queue,
    RequestedNodes,
    parse_pairs,
    resources_from,
)

app = typer.Typer(help="Create tasks and see what happened to them.", no_args_is_help=True)

TaskId = Annotated[str, typer.Argument(help="Task id.", show_default=False)]
TaskIds = Annotated[list[str], typer.Argument(help="Task ids.", show_default=False)]


def exit_for(status: TaskStatus) -> None:
    """Exit 0 only on success: scripts rely on `wait` meaning it worked."""
    if status != TaskStatus.SUCCESS:
        raise typer.Exit(1)


def wait_and_report(root: Root, task_id: str, timeout: float | None, as_json: bool) -> TaskStatus:
    from hipercow_core.tasks import wait_task

    with output.spinner(f"Waiting for task {task_id}") as spin:

        def show(status: TaskStatus) -> None:
            if spin is not None:
                spin.update(f"Waiting for task {task_id}: {status}")

        status = wait_task(root, task_id, timeout=timeout, on_poll=show)
    if as_json:
        output.emit_json({"id": task_id, "status": status})
    elif not status.is_terminal:
        output.err(f"Task {task_id} is still {status} after {timeout:g}s")
    else:
        output.err(f"Task {task_id}: {output.status_text(status)}")
    return status


@app.command("create", context_settings={"allow_interspersed_args": False})
def create(
    command: Annotated[
        list[str], typer.Argument(help="The command, after '--'.", show_default=False)
    ],
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="Environment variable NAME=VALUE (repeatable)."),
    ] = None,
    environment: Annotated[str | None, typer.Option(help="Environment the task runs in.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the task to finish.")] = False,
    timeout: Annotated[
        float | None, typer.Option(help="With --wait: give up after this many seconds.")
    ] = None,
    driver: Driver = None,
    cores: Cores = None,
    exclusive: Exclusive = False,
    max_runtime: MaxRuntime = None,
    hold_until: HoldUntil = None,
    memory_per_node: MemoryPerNode = None,
    memory_per_task: MemoryPerTask = None,
    node: RequestedNodes = None,
    priority: Priority = None,
    queue: Queue = None,
    as_json: Json = False,
) -> None:
    """Create a task running COMMAND and submit it; prints the new task's id.

    Example: hipercow task create --cores 2 -- python analysis.py --fast
    """
    from hipercow_core.tasks import create_task

    resources = resources_from(
        cores,
        exclusive,
        max_runtime,
        hold_until,
        memory_per_node,
        memory_per_task,
        node,
        priority,
        queue,
    )
    root = Root.find()
    task_id = create_task(
        root,
        command,
        resources=resources,
        envvars=parse_pairs(env, "--env"),
        environment=environment,
        driver=driver,
    )
    if as_json and not wait:
        output.emit_json({"id": task_id})
    elif not as_json:
        output.out(task_id)
        sys.stdout.flush()
    if wait:
        exit_for(wait_and_report(root, task_id, timeout, as_json))


@app.command("submit")
def submit(
    task_ids: Annotated[
        list[str] | None, typer.Argument(help="Tasks to submit (default: every 'created' task).")
    ] = None,
    driver: Driver = None,
    as_json: Json = False,
) -> None:
    """Submit tasks left 'created', e.g. after the scheduler was unreachable."""
    from hipercow_core.tasks import submit_tasks

    sent = submit_tasks(Root.find(), task_ids or None, driver=driver)
    if as_json:
        output.emit_json({"submitted": sent})
    elif sent:
        output.success(f"Submitted {len(sent)} task{'s' if len(sent) != 1 else ''}")
    else:
        output.out("Nothing to submit: no task is 'created'")


@app.command("status")
def status(task_ids: TaskIds, as_json: Json = False) -> None:
    """Show the status of tasks (created, submitted, running, success, failure, cancelled)."""
    from hipercow_core.tasks import tasks_status

    found = tasks_status(Root.find(), task_ids)
    if as_json:
        output.emit_json(
            found if len(task_ids) > 1 else {"id": task_ids[0], "status": found[task_ids[0]]}
        )
    elif len(task_ids) == 1:
        output.out(output.status_text(found[task_ids[0]]))
    else:
        for task_id, value in found.items():
            output.out(f"{task_id}  {output.status_text(value)}")
    if any(v == TaskStatus.MISSING for v in found.values()):
        raise typer.Exit(1)


def _durations(info: TaskInfo) -> tuple[timedelta | None, timedelta | None]:
    times = info.times
    waited = times.started - times.submitted if times.started and times.submitted else None
    ran = None
    if times.started:
        end = times.finished or (None if info.status.is_terminal else datetime.now(UTC))
        ran = end - times.started if end else None
    return waited, ran


@app.command("info")
def info(task_id: TaskId, as_json: Json = False) -> None:
    """Everything about a task: command, resources, times, exit code and reason."""
    from hipercow_core.tasks import task_info

    details = task_info(Root.find(), task_id)
    waited, ran = _durations(details)
    if as_json:
        output.emit_json(
            {
                **msgspec.to_builtins(details),
                "waited_seconds": waited.total_seconds() if waited else None,
                "ran_seconds": ran.total_seconds() if ran else None,
            }
        )
        return
    data = details.data
    rows = [
        ("id", details.id),
        ("status", output.status_text(details.status)),
        ("command", output.show_command(data.command)),
        ("kind", data.kind),
        ("directory", data.path),
        ("driver", details.driver or "-"),
        ("job id", details.job_id or "-"),
        ("created", output.show_time(details.times.created)),
        ("submitted", output.show_time(details.times.submitted)),
        ("started", output.show_time(details.times.started)),
        ("finished", output.show_time(details.times.finished)),
        ("waited", output.show_duration(waited)),
        ("ran", output.show_duration(ran)),
        ("exit code", "-" if details.exit_code is None else str(details.exit_code)),
        ("reason", details.reason or "-"),
        ("host", details.host or "-"),
    ]
    if data.environment:
        rows.append(("environment", data.environment))
    if data.envvars:
        rows.append(("env vars", ", ".join(sorted(data.envvars))))
    resources = msgspec.to_builtins(data.resources)
    rows.append(("resources", ", ".join(f"{k}={v}" for k, v in resources.items()) or "defaults"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        output.out(f"{name:>{width}}  {value}")


@app.command("log")
def log(
    task_id: TaskId,
    outer: Annotated[
        bool, typer.Option("--outer", help="The scheduler's log of the job instead.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing output until the task ends.")
    ] = False,
) -> None:
    """Show a task's output (or, with --outer, what the scheduler logged)."""
    from hipercow_core import tasks

    root = Root.find()
    if follow and not outer:
        for chunk in tasks.follow_log(root, task_id):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        return
    text = tasks.task_outer_log(root, task_id) if outer else tasks.task_log(root, task_id)
    if text is None:
        what = "scheduler log" if outer else "log"
        output.err(f"No {what} yet for task {task_id}")
        return
    sys.stdout.write(text)


@app.command("wait")
def wait(
    task_id: TaskId,
    timeout: Annotated[
        float | None, typer.Option(help="Give up after this many seconds (exit code 1).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Wait for a task to finish; exits 0 only if it succeeded."""
    exit_for(wait_and_report(Root.find(), task_id, timeout, as_json))


@app.command("cancel")
def cancel(task_ids: TaskIds, as_json: Json = False) -> None:
    """Cancel tasks that have not finished; finished ones are left alone."""
    from hipercow_core.tasks import cancel_tasks

    result = cancel_tasks(Root.find(), task_ids)
    if as_json:
        output.emit_json(result)
        return
    for task_id, done in result.items():
        output.out(f"{task_id}  {'cancelled' if done else 'not cancelled (already finished)'}")


def parse_since(text: str) -> datetime:
    from hipercow_core.resources import _duration_minutes

    minutes = _duration_minutes(text.strip())
    if minutes is not None:
        return datetime.now(UTC) - timedelta(minutes=minutes)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"--since '{text}' is neither a duration nor a date-time",
            "Use a duration such as 30m, 2h or 7d, or a date such as 2026-11-01.",
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def parse_statuses(values: list[str] | None) -> list[TaskStatus] | None:
    if not values:
        return None
    result = []
    for value in values:
        for name in value.split(","):
            try:
                result.append(TaskStatus(name.strip()))
            except ValueError:
                known = ", ".join(s.value for s in TaskStatus if s != TaskStatus.MISSING)
                raise InvalidInputError(
                    f"'{name}' is not a task status", f"Use one of: {known}."
                ) from None
    return result


@app.command("list")
def list_(
    status_filter: Annotated[
        list[str] | None,
        typer.Option(
            "--status", help="Only tasks with this status (repeatable, or comma-separated)."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only tasks created since: 30m, 2h, 7d or a date.")
    ] = None,
    as_json: Json = False,
) -> None:
    """List tasks, oldest first: id, status, when created, command."""
    from hipercow_core.tasks import list_tasks

    found = list_tasks(
        Root.find(),
        statuses=parse_statuses(status_filter),
        since=parse_since(since) if since else None,
    )
    if as_json:
        output.emit_json(
            [
                {
                    "id": s.id,
                    "status": s.status,
                    "created": s.created,
                    "command": s.data.command if s.data else None,
                }
                for s in found
            ]
        )
        return
    lines = []
    for s in found:
        created = output.show_time(s.created)
        command = output.show_command(s.data.command) if s.data else ""
        lines.append(f"{s.id}  {output.status_text(s.status):<9}  {created}  {command}")
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")


@app.command("last")
def last(as_json: Json = False) -> None:
    """The id of the most recently created task."""
    from hipercow_core.store import last_task_id

    task_id = last_task_id(Root.find())
    if task_id is None:
        raise TaskNotFoundError(
            "no task has been created in this root yet",
            "Create one with 'hipercow task create -- COMMAND'.",
        )
    if as_json:
        output.emit_json({"id": task_id})
    else:
        output.out(task_id)
