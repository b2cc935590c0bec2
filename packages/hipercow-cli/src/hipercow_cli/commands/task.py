"""`hipercow task ...`: create tasks and see what happened to them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from hipercow_cli import completion, output
from hipercow_cli.options import (
    Driver,
    Json,
    NoSubmit,
    Timeout,
    given_resource_fields,
    parse_pairs,
    with_resource_options,
    with_secret_options,
)
from hipercow_core.errors import InvalidInputError, TaskNotFoundError
from hipercow_core.root import Root
from hipercow_core.schema import HoldUntil, Resources, RetryPolicy, TaskStatus
from hipercow_core.secret_store import SecretRequest
from hipercow_core.tasks import TaskSpec

app = typer.Typer(help="Create tasks and see what happened to them.", no_args_is_help=True)

TaskId = Annotated[
    str,
    typer.Argument(help="Task id.", show_default=False, autocompletion=completion.task_ids),
]
TaskIds = Annotated[
    list[str],
    typer.Argument(help="Task ids.", show_default=False, autocompletion=completion.task_ids),
]
NoFollow = Annotated[
    bool, typer.Option("--no-follow", help="This task itself, not its latest retry.")
]
DependsOn = Annotated[
    list[str] | None,
    typer.Option(
        "--depends-on",
        help="Run only after this task (or every task of this bundle) succeeded.",
        autocompletion=completion.task_ids_and_bundles,
    ),
]


def followed(root: Root, task_ids: list[str], no_follow: bool) -> list[str]:
    """Each id followed to its latest retry, unless --no-follow.

    For one task a chain that cannot be followed is an error naming the file;
    among several, that task stays itself (and reads as unreadable).
    """
    from hipercow_core.retry import follow

    return follow(root, task_ids, enabled=not no_follow, strict=len(task_ids) == 1)


def exit_for(status: TaskStatus) -> None:
    """Exit 0 only on success: scripts rely on `wait` meaning it worked."""
    if status != TaskStatus.SUCCESS:
        raise typer.Exit(1)


def wait_and_report(
    root: Root, task_id: str, timeout: float | None, as_json: bool, follow: bool = True
) -> TaskStatus:
    """Wait (to the end of the task's retry chain unless `follow` is off) and say how it went."""
    from hipercow_core.tasks import wait_task

    with output.spinner(f"Waiting for task {task_id}") as spin:

        def show(status: TaskStatus) -> None:
            if spin is not None:
                spin.update(f"Waiting for task {task_id}: {status}")

        status = wait_task(root, task_id, timeout=timeout, on_poll=show, follow=follow)
    task_id = followed(root, [task_id], not follow)[0]  # the attempt that ended it
    if as_json:
        output.emit_json({"id": task_id, "status": status})
    elif not status.is_terminal:
        output.err(f"Task {task_id} is still {status} after {timeout:g}s")
    elif status == TaskStatus.SUCCESS:
        output.err(f"Task {task_id}: {output.status_text(status)}")
    else:
        from hipercow_cli.failures import explain_task

        explain_task(root, task_id)
    return status


RETRIES = "Automatic retries"
Retries = Annotated[
    int | None,
    typer.Option(
        help="Retry the task automatically up to N times when it ends for a --retry-on reason.",
        rich_help_panel=RETRIES,
    ),
]
RetryOn = Annotated[
    str | None,
    typer.Option(
        help="Reasons to retry: timeout, out-of-memory, lost, node-failure"
        " (comma-separated; default: lost,node-failure).",
        rich_help_panel=RETRIES,
    ),
]
RetryScale = Annotated[
    str | None,
    typer.Option(help="Scale each retry's resources: memory=2,runtime=2.", rich_help_panel=RETRIES),
]
AfterAny = Annotated[
    list[str] | None,
    typer.Option(
        "--after-any",
        help="Run once this task (or every task of this bundle) has ended, whatever its outcome.",
    ),
]
TaskName = Annotated[
    str | None,
    typer.Option("--name", help="A name for the task (also its job name on the scheduler)."),
]
Tag = Annotated[
    list[str] | None,
    typer.Option("--tag", help="A label KEY=VALUE for finding the task again (repeatable)."),
]
Env = Annotated[
    list[str] | None, typer.Option("--env", help="Environment variable NAME=VALUE (repeatable).")
]
Environment = Annotated[
    str | None,
    typer.Option(help="Environment the task runs in.", autocompletion=completion.environment_names),
]
Wait = Annotated[bool, typer.Option("--wait", help="Wait for the task to finish.")]


MaxLogSize = Annotated[
    str | None,
    typer.Option(help="Keep at most this much output per task, e.g. 100M (default 1G)."),
]


def parse_retry_policy(
    retries: int | None, retry_on: str | None, retry_scale: str | None
) -> RetryPolicy | None:
    from hipercow_core.auto_retry import parse_retry_policy as parse

    return parse(retries, retry_on, retry_scale)


def task_options(
    root: Root,
    resources: Resources,
    env: list[str] | None,
    environment: str | None,
    depends_on: list[str] | None,
    secrets: list[SecretRequest] | None = None,
    name: str | None = None,
    tags: list[str] | None = None,
    after_any: list[str] | None = None,
    retry_policy: RetryPolicy | None = None,
    max_log_size: str | None = None,
) -> dict[str, Any]:
    """The TaskSpec fields every creating command takes from its options.

    Secrets are read (keyring or environment) and sealed here, once for
    every task of the command; only their ciphertext goes further.
    """
    if environment is not None:
        from hipercow_core.environments import validate_name

        validate_name(environment)
    from hipercow_core.dependencies import resolve_dependencies

    fields: dict[str, Any] = {
        "resources": resources,
        "envvars": parse_pairs(env, "--env"),
        "environment": environment,
        "depends_on": resolve_dependencies(root, depends_on or []),
        "name": name,
        "tags": parse_pairs(tags, "--tag"),
        "after_any": resolve_dependencies(root, after_any or []),
        "retry_policy": retry_policy,
        "max_log_size": _log_size(max_log_size),
    }
    if secrets:
        from hipercow_core.secret_keys import seal
        from hipercow_core.secret_store import resolve

        fields["secrets"] = seal(root, resolve(secrets))
    return fields


def _log_size(text: str | None) -> int | None:
    if text is None:
        return None
    from hipercow_core.pytasks import parse_size

    size = parse_size(text, "--max-log-size")
    if size < 1000:
        raise InvalidInputError(
            f"--max-log-size '{text}' is under 1k", "Keep at least 1k of output, e.g. 10M."
        )
    return size


def create_and_report(
    root: Root,
    spec: TaskSpec,
    driver: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    submit: bool = True,
) -> None:
    """Create one task, print its id, and wait for it if asked."""
    from hipercow_core.tasks import create_tasks

    if wait and not submit:
        raise InvalidInputError(
            "--wait cannot wait for a task that --no-submit keeps back",
            "Drop one of them; submit it later with 'hipercow task submit ID'.",
        )
    task_id = create_tasks(root, [spec], driver=driver, submit=submit)[0]
    if as_json and not wait:
        output.emit_json({"id": task_id})
    elif not as_json:
        output.out(task_id)
        sys.stdout.flush()
    if wait:
        exit_for(wait_and_report(root, task_id, timeout, as_json))


@app.command("create", context_settings={"allow_interspersed_args": False})
@with_resource_options
@with_secret_options
def create(
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help="The command after '--' (with --script: the script's arguments).",
            show_default=False,
        ),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option("--python", help="Python code to run; a final expression is the result."),
    ] = None,
    script: Annotated[
        Path | None, typer.Option("--script", help="A Python script in the project to run.")
    ] = None,
    name: TaskName = None,
    tag: Tag = None,
    env: Env = None,
    environment: Environment = None,
    depends_on: DependsOn = None,
    after_any: AfterAny = None,
    retries: Retries = None,
    retry_on: RetryOn = None,
    retry_scale: RetryScale = None,
    max_log_size: MaxLogSize = None,
    wait: Wait = False,
    timeout: Timeout = None,
    no_submit: NoSubmit = False,
    driver: Driver = None,
    as_json: Json = False,
    *,
    resources: Resources,
    secrets: list[SecretRequest],
) -> None:
    """Create a task and submit it; prints the new task's id.

    Examples: hipercow task create --cores 2 -- Rscript fit.R;
    hipercow task create --python 'import math; math.pi';
    hipercow task create --script analysis.py -- --fast
    """
    from hipercow_core import pytasks

    root = Root.find()
    options = task_options(
        root,
        resources,
        env,
        environment,
        depends_on,
        secrets,
        name,
        tag,
        after_any,
        parse_retry_policy(retries, retry_on, retry_scale),
        max_log_size,
    )
    if python is not None and script is not None:
        raise InvalidInputError("--python and --script cannot be used together", "Choose one.")
    if python is not None:
        if not python.strip():
            raise InvalidInputError("--python is empty", "Give the code to run: --python 'CODE'.")
        if command:
            raise InvalidInputError(
                "--python takes the code as its value and no command",
                "Put all the code in --python '...', or drop --python to run a command.",
            )
        spec = pytasks.expression_spec(python, **options)
    elif script is not None:
        spec = pytasks.script_spec(root, script, command or [], Path.cwd(), **options)
    elif not command:
        raise InvalidInputError(
            "no command given", "Put the command after '--', or use --python or --script."
        )
    else:
        spec = TaskSpec(command=tuple(command), **options)
    create_and_report(root, spec, driver, wait, timeout, as_json, submit=not no_submit)


@app.command("call")
@with_resource_options
@with_secret_options
def call(
    target: Annotated[str, typer.Argument(help="module:function to call.", show_default=False)],
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="Positional arguments: JSON literals, else strings.", show_default=False
        ),
    ] = None,
    kwarg: Annotated[
        list[str] | None, typer.Option("--kwarg", help="Keyword argument NAME=VALUE (repeatable).")
    ] = None,
    args_json: Annotated[
        str | None,
        typer.Option(help="Arguments as JSON: an array (positional) or an object (keyword)."),
    ] = None,
    max_args_size: Annotated[
        str, typer.Option(help="Largest size of the encoded arguments, e.g. 10M, 1G.")
    ] = "10M",
    name: TaskName = None,
    tag: Tag = None,
    env: Env = None,
    environment: Environment = None,
    depends_on: DependsOn = None,
    after_any: AfterAny = None,
    retries: Retries = None,
    retry_on: RetryOn = None,
    retry_scale: RetryScale = None,
    max_log_size: MaxLogSize = None,
    wait: Wait = False,
    timeout: Timeout = None,
    no_submit: NoSubmit = False,
    driver: Driver = None,
    as_json: Json = False,
    *,
    resources: Resources,
    secrets: list[SecretRequest],
) -> None:
    """Create a task calling a Python function in the project; prints its id.

    Example: hipercow task call analysis:fit 10 '"linear"' --kwarg seed=42
    """
    from hipercow_core import pytasks

    root = Root.find()
    positional = [pytasks.parse_cli_argument(a) for a in args or []]
    keywords = {k: pytasks.parse_cli_argument(v) for k, v in parse_pairs(kwarg, "--kwarg").items()}
    if args_json is not None:
        more_args, more_kwargs = pytasks.parse_args_json(args_json)
        if positional and more_args:
            raise InvalidInputError(
                "positional arguments are given both on the command line and in --args-json",
                "Give them in one place: their order cannot be guessed.",
            )
        repeated = sorted(set(keywords) & set(more_kwargs))
        if repeated:
            raise InvalidInputError(
                f"keyword argument '{repeated[0]}' is given both by --kwarg and in --args-json",
                "Give each keyword argument once.",
            )
        positional.extend(more_args)
        keywords.update(more_kwargs)
    pytasks.check_keyword_names(keywords)
    limit = pytasks.parse_size(max_args_size, "--max-args-size")
    spec = pytasks.call_spec(
        target,
        positional,
        keywords,
        root=root,
        cwd=Path.cwd(),
        max_args_size=limit,
        **task_options(
            root,
            resources,
            env,
            environment,
            depends_on,
            secrets,
            name,
            tag,
            after_any,
            parse_retry_policy(retries, retry_on, retry_scale),
            max_log_size,
        ),
    )
    create_and_report(root, spec, driver, wait, timeout, as_json, submit=not no_submit)


@app.command("submit")
def submit(
    task_ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="Tasks to submit (default: every 'created' task).",
            autocompletion=completion.task_ids,
        ),
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
def status(task_ids: TaskIds, no_follow: NoFollow = False, as_json: Json = False) -> None:
    """Show the status of tasks (created, submitted, running, success, failure, cancelled)."""
    from hipercow_core.tasks import followed_statuses

    root = Root.find()
    by_id = followed_statuses(root, task_ids, follow=not no_follow, strict=len(task_ids) == 1)
    found = {task_id: by_id[task_id][1] for task_id in task_ids}
    if as_json:
        output.emit_json(
            found if len(task_ids) > 1 else {"id": task_ids[0], "status": found[task_ids[0]]}
        )
    elif len(task_ids) == 1:
        output.out(output.status_text(found[task_ids[0]]))
    else:
        for task_id, value in found.items():
            output.out(f"{task_id}  {output.status_text(value)}")
    unknown = [t for t, v in found.items() if v == TaskStatus.MISSING]
    if unknown:
        if not as_json:
            which = f"task {unknown[0]}" if len(unknown) == 1 else f"{len(unknown)} of these tasks"
            output.err(
                f"No {which} in this root ({root.project}): mistyped, purged, or of another"
                " project; 'hipercow task list' shows the tasks here."
            )
        raise typer.Exit(1)


def hipercow_version() -> str:
    from hipercow_core import __version__

    return __version__


def show_hold(hold: HoldUntil, resolved: datetime | None, zone: str | None = None) -> str:
    """A hold as a time: the one it resolved to at submission, else what it will resolve to.

    Named times are the submitting machine's wall-clock times, so once
    resolved they are shown in that machine's zone, with the zone's name.
    """
    named = hold.kind in ("tonight", "midnight", "weekend")
    if resolved is not None and zone is not None:
        asked = f"; {hold.kind}, local time" if named else ""
        return f"{resolved:%Y-%m-%d %H:%M:%S} ({zone}{asked})"
    if resolved is not None:
        return output.show_time(resolved)
    if hold.kind == "at" and hold.at is not None:
        return output.show_time(hold.at)
    if hold.kind == "after" and hold.minutes is not None:
        return f"{hold.minutes} minutes after submission"
    return f"{hold.kind} (local time, fixed at submission)"


def show_chain(
    chain: list[str], statuses: dict[str, TaskStatus], reasons: dict[str, str | None] | None = None
) -> str:
    """A retry chain as a person reads it: 'failure (timed out) → retried as ID: success'."""

    def shown(task_id: str) -> str:
        why = (reasons or {}).get(task_id)
        text = output.status_text(statuses[task_id])
        return f"{text} ({why})" if why and statuses[task_id] != TaskStatus.SUCCESS else text

    parts = [shown(chain[0])]
    parts.extend(f"retried as {t}: {shown(t)}" for t in chain[1:])
    return output.mark(" → ", " -> ").join(parts)


def outcome_rows(root: Root, task_id: str, own: TaskStatus) -> list[tuple[str, str]]:
    """The followed outcome first (as `task status` gives it), then the chain that led there."""
    from hipercow_core.retry import retry_chain
    from hipercow_core.tasks import tasks_status

    chain = retry_chain(root, task_id)
    if len(chain) == 1:
        return [("status", output.status_text(own))]
    statuses = tasks_status(root, chain)
    latest = chain[-1]
    rows = [("status", output.status_text(statuses[latest]))]
    if latest != task_id:
        rows[0] = ("status", f"{rows[0][1]} (latest attempt: {latest})")
    from hipercow_core.retry import chain_reasons

    rows.append(
        ("attempts", f"{chain[0]}: {show_chain(chain, statuses, chain_reasons(root, chain))}")
    )
    if latest != task_id:
        rows.append(("this attempt", output.status_text(own)))
    return rows


def attempts(root: Root, chain: list[str]) -> list[dict[str, Any]]:
    """Each attempt of a chain with its status and reason, for `task info --json`."""
    from hipercow_core.retry import chain_reasons
    from hipercow_core.tasks import tasks_status

    statuses = tasks_status(root, chain)
    reasons = chain_reasons(root, chain)
    return [{"id": t, "status": statuses[t], "reason": reasons[t]} for t in chain]


@app.command("info")
def info(task_id: TaskId, as_json: Json = False) -> None:
    """Everything about a task: command, resources, times, exit code and reason."""
    from hipercow_core.retry import retry_chain
    from hipercow_core.tasks import followed_statuses, task_info

    root = Root.find()
    details = task_info(root, task_id)
    if as_json:
        output.emit_json(
            {
                **msgspec.to_builtins(details),
                "retry_chain": retry_chain(root, task_id),
                "attempts": attempts(root, retry_chain(root, task_id)),
                "followed": dict(
                    zip(("id", "status"), followed_statuses(root, [task_id])[task_id], strict=True)
                ),
            }
        )
        return
    data = details.data
    rows = [
        ("id", details.id),
        *outcome_rows(root, task_id, details.status),
        ("command", output.show_command(data.command)),
        ("kind", data.kind),
        ("directory", data.path),
        ("driver", details.driver or "-"),
        ("job id", details.job_id or "-"),
        ("created", output.show_time(details.times.created)),
        ("submitted", output.show_time(details.times.submitted)),
        ("started", output.show_time(details.times.started)),
        ("finished", output.show_time(details.times.finished)),
        ("waited", output.show_seconds(details.waited_seconds)),
        ("ran", output.show_seconds(details.ran_seconds)),
        ("exit code", "-" if details.exit_code is None else str(details.exit_code)),
        ("reason", details.reason or "-"),
        *([("waiting", details.waiting_reason)] if details.waiting_reason else []),
        ("host", details.host or "-"),
    ]
    if details.usage is not None:
        from hipercow_cli.usage import usage_line

        rows.append(("usage", usage_line(details.usage, data.resources)))
    if details.node_version is not None and details.node_version != hipercow_version():
        rows.append(
            (
                "hipercow",
                f"{details.node_version} on the node, {hipercow_version()} here:"
                " install the same release on both",
            )
        )
    if data.name:
        rows.insert(1, ("name", data.name))
    if data.tags:
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in sorted(data.tags.items()))))
    if details.log_truncated:
        rows.append(("log", "truncated: the output reached max_log_size, the rest was dropped"))
    if data.depends_on:
        rows.append(("depends on", ", ".join(data.depends_on)))
    if data.after_any:
        rows.append(("after any", ", ".join(data.after_any)))
    if data.retry_policy is not None and data.retry_policy.retries > 0:
        policy = data.retry_policy
        scale = [
            f"{k}×{v:g}"
            for k, v in (("memory", policy.memory), ("runtime", policy.runtime))
            if v != 1
        ]
        rows.append(
            (
                "retries",
                f"{policy.retries} left, on {', '.join(policy.on)}"
                + (f", each scaling {' '.join(scale)}" if scale else ""),
            )
        )
    if data.bundle:
        rows.append(("bundle", data.bundle))
    if data.environment:
        rows.append(("environment", data.environment))
    if data.envvars:
        rows.append(("env vars", ", ".join(sorted(data.envvars))))
    if data.secrets:
        names = ", ".join(sorted(data.secrets.values))
        rows.append(("secrets", f"{names} (sealed for {data.secrets.user})"))
    resources = msgspec.to_builtins(data.resources)
    if data.resources.hold_until is not None:
        resources["hold_until"] = show_hold(
            data.resources.hold_until, details.times.not_before, details.held_zone
        )
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
    no_follow: NoFollow = False,
) -> None:
    """Show a task's output (or, with --outer, what the scheduler logged)."""
    from hipercow_core import tasks

    root = Root.find()
    task_id = followed(root, [task_id], no_follow)[0]
    # Output goes out as the task wrote it, unless a terminal shows it.
    raw = not sys.stdout.isatty()
    if follow and not outer:
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for chunk in tasks.follow_log(root, task_id):
            if raw:
                sys.stdout.buffer.write(chunk)
            else:
                sys.stdout.write(decoder.decode(chunk))
            sys.stdout.flush()
        return
    if outer:
        text = tasks.task_outer_log(root, task_id)
        content = None if text is None else text.encode()
    else:
        from hipercow_core.store import read_log, read_task_data

        read_task_data(root, task_id)  # an unknown task is an error, not an empty log
        content = read_log(root, task_id)
    if content is None:
        what = "scheduler log" if outer else "log"
        output.err(f"No {what} yet for task {task_id}")
        return
    if raw:
        sys.stdout.buffer.write(content)
    else:
        sys.stdout.write(content.decode(errors="replace"))


@app.command("result")
def result(
    task_id: TaskId,
    no_follow: NoFollow = False,
    as_json: Json = False,
    output_file: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the whole value to this file.", dir_okay=False),
    ] = None,
) -> None:
    """The value a Python task returned; if it raised, the error and traceback (exit 1).

    Large values are summarised on the terminal; --output FILE writes them whole.
    """
    from hipercow_core.pytasks import TaskFailedError, result_head, result_size, task_result

    root = Root.find()
    task_id = followed(root, [task_id], no_follow)[0]
    size = result_size(root, task_id) or 0
    if output_file is None and not as_json and size > output.LARGE_RESULT_BYTES:
        head = result_head(root, task_id)
        if head is not None:
            output.out(output.summarise_head(head.kind, head.size, head.head))
            return
    try:
        value = task_result(root, task_id)
    except TaskFailedError as e:
        if as_json:
            output.emit_json(
                {
                    "id": task_id,
                    "error": {
                        "type": e.error_type,
                        "message": e.error_message,
                        "traceback": e.traceback,
                    },
                }
            )
        else:
            sys.stderr.write(e.traceback)
            output.err(f"Error: task {task_id} raised {e.error_type}: {e.error_message}")
        raise typer.Exit(1) from None
    if output_file is not None:
        output.write_value(value, str(output_file), as_json)
    elif as_json:
        output.emit_json_value(value)
    elif size > output.LARGE_RESULT_BYTES:
        output.out(output.summarise_value(value, size))
    else:
        output.out(output.show_value(value))


@app.command("wait")
def wait(
    task_id: TaskId,
    timeout: Timeout = None,
    no_follow: NoFollow = False,
    as_json: Json = False,
) -> None:
    """Wait for a task to finish; exits 0 only if it succeeded."""
    root = Root.find()
    task_id = followed(root, [task_id], no_follow)[0]
    exit_for(wait_and_report(root, task_id, timeout, as_json, follow=not no_follow))


@app.command("cancel")
def cancel(task_ids: TaskIds, no_follow: NoFollow = False, as_json: Json = False) -> None:
    """Cancel tasks that have not finished; finished ones are left alone.

    Exits 1 when a task that has not finished could not be stopped (e.g. a
    local task running on another machine), saying why.
    """
    from hipercow_core.jobs import ALREADY_FINISHED, FINISHED_MEANWHILE
    from hipercow_core.tasks import cancel_tasks_explained

    root = Root.find()
    result = cancel_tasks_explained(root, followed(root, task_ids, no_follow))
    if as_json:
        output.emit_json({task_id: why is None for task_id, why in result.items()})
    else:
        for task_id, why in result.items():
            output.out(f"{task_id}  {'cancelled' if why is None else f'not cancelled ({why})'}")
    if any(why not in (None, ALREADY_FINISHED, FINISHED_MEANWHILE) for why in result.values()):
        raise typer.Exit(1)


@app.command("retry")
@with_resource_options
def retry(
    task_ids: TaskIds,
    driver: Driver = None,
    as_json: Json = False,
    *,
    resources: Resources,
) -> None:
    """Run finished tasks again as new tasks; each keeps its resources unless new ones are given.

    Status, log, result, wait and cancel then follow a task to its latest retry.
    """
    from hipercow_core.retry import retry_tasks

    changes = given_resource_fields(resources)
    done = retry_tasks(Root.find(), task_ids, resource_changes=changes, driver=driver)
    if as_json:
        output.emit_json(done)
        return
    for old, new in done.items():
        output.out(f"{old} -> {new}")


def parse_since(text: str, option: str = "--since") -> datetime:
    from hipercow_core.resources import duration_minutes

    minutes = duration_minutes(text.strip())
    if minutes is not None:
        try:
            return datetime.now(UTC) - timedelta(minutes=minutes)
        except OverflowError:
            raise InvalidInputError(
                f"{option} '{text}' reaches before the year 1", "Give a shorter duration."
            ) from None
    try:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.astimezone()
    except (ValueError, OverflowError, OSError):
        raise InvalidInputError(
            f"{option} '{text}' is neither a duration nor a date-time",
            "Use a duration such as 30m, 2h or 7d, or a date such as 2026-11-01.",
        ) from None


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
                shown = name.strip() or value
                raise InvalidInputError(
                    f"'{shown}' is not a task status", f"Use one of: {known}."
                ) from None
    return result


@app.command("list")
def list_(
    status_filter: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only tasks with this status (repeatable, or comma-separated).",
            autocompletion=completion.statuses,
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only tasks created since: 30m, 2h, 7d or a date.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Only tasks whose name matches, e.g. 'fit*'.")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only tasks with this tag KEY=VALUE (repeatable: all of them)."),
    ] = None,
    bundle: Annotated[
        str | None, typer.Option("--bundle", help="Only this bundle's tasks.")
    ] = None,
    show_all: Annotated[
        bool,
        typer.Option("--all", help="Include environment provisioning jobs (hidden by default)."),
    ] = False,
    as_json: Json = False,
) -> None:
    """List tasks, oldest first: id, status, when created, name, command."""
    from hipercow_core.provisioning_jobs import provisioning_task_ids
    from hipercow_core.tasks import list_tasks

    root = Root.find()
    found = list_tasks(
        root,
        statuses=parse_statuses(status_filter),
        since=parse_since(since) if since is not None else None,
        name=name,
        tags=parse_pairs(tag, "--tag"),
        bundle=bundle,
    )
    provisioning = provisioning_task_ids(root)
    if not show_all:
        found = [s for s in found if s.id not in provisioning]
    if as_json:
        output.emit_json(
            [
                {
                    "id": s.id,
                    "status": s.status,
                    "created": s.created,
                    "command": s.command,
                    "name": s.name,
                    "tags": s.tags,
                    "bundle": s.bundle,
                    "provisioning": s.id in provisioning,
                }
                | ({"problem": s.problem} if s.problem else {})
                for s in found
            ]
        )
        return
    lines = []
    for s in found:
        created = output.show_time(s.created)
        command = (
            s.problem
            or ("(environment provisioning)" if s.id in provisioning else None)
            or output.show_command(s.command)
        )
        label = f"[{s.name}]  " if s.name else ""
        lines.append(f"{s.id}  {output.status_text(s.status):<9}  {created}  {label}{command}")
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
