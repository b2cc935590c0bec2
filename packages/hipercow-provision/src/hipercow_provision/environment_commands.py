"""`hipercow environment ...`: environments, provisioning them on the cluster, and their history.

Added to the `hipercow` command through the `hipercow.cli` entry point, so
it needs hipercow-cli (`pip install hipercow-provision[cli]`); the
standalone `hipercow-provision` command (`cli`) does not. It uses only what
`hipercow_cli.plugin` offers of the CLI. Records and builds come from
`hipercow_core.environments`, provisioning, history, compare, check and the
verdict on an attempt from this package's `provision`; each is imported by
the command that needs it, since `hipercow --help` imports this module.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import msgspec
import typer

from hipercow_cli import plugin as cli
from hipercow_cli.plugin import Driver, Json
from hipercow_core.root import Root

if TYPE_CHECKING:
    from hipercow_core.schema import ProvisionInputs
    from hipercow_provision.history import HistoryEntry

app = typer.Typer(
    help="Environments that tasks run in: create, provision on the cluster, history.",
    no_args_is_help=True,
)

Name = Annotated[
    str,
    typer.Argument(
        help="Environment name.", show_default=False, autocompletion=cli.environment_names
    ),
]
Packages = Annotated[
    list[str] | None,
    typer.Argument(help="Packages to install, e.g. numpy 'pandas>=2'.", show_default=False),
]
Requirements = Annotated[
    Path | None, typer.Option("--requirements", "-r", help="Install from a requirements file.")
]
Pyproject = Annotated[
    bool,
    typer.Option("--pyproject", help="Install the dependencies of the project's pyproject.toml."),
]

_STATUS_STYLE = {
    "success": "green",
    "failure": "red",
    "cancelled": "magenta",
    "running": "yellow",
    "queued": "blue",
}
_CHANGE_STYLE = {"added": "green", "removed": "red", "updated": "yellow", "unchanged": "dim"}


# --- conda environments (hipercow-conda-env): channels, environment.yml, exact rebuilds

Channels = Annotated[
    list[str] | None,
    typer.Option(
        "--channel",
        "-c",
        help="A conda channel (name, address, or directory); repeat it in priority order.",
        show_default=False,
    ),
]
EnvironmentFile = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="A conda environment.yml (channels, dependencies, pip:)."),
]
FromAttempt = Annotated[
    str | None,
    typer.Option(
        "--from-attempt", help="Rebuild exactly the set an earlier attempt solved (number or id)."
    ),
]


class CondaInputs:
    """The conda-only inputs of `provision` and `check`, passed on as given."""

    def __init__(
        self,
        channels: list[str] | None = None,
        environment_file: Path | None = None,
        from_attempt: str | None = None,
    ) -> None:
        self.channels = tuple(channels or ())
        self.environment_file = (
            (Path.cwd() / environment_file).resolve() if environment_file else None
        )
        self.from_attempt = from_attempt


def _inputs(
    root: Root,
    name: str,
    packages: list[str] | None,
    requirements: Path | None,
    pyproject: bool,
    conda: CondaInputs | None = None,
) -> ProvisionInputs:
    from hipercow_provision.provision import provision_inputs

    conda = conda or CondaInputs()
    return provision_inputs(
        root,
        name,
        requirements=(Path.cwd() / requirements).resolve() if requirements else None,
        pyproject=pyproject,
        packages=packages or (),
        environment_file=conda.environment_file,
        channels=conda.channels,
        from_attempt=conda.from_attempt,
    )


@app.command("new")
def new(
    name: Name,
    engine: Annotated[
        str,
        typer.Option(
            help="How it is built: uv (default), pip, conda, or empty.",
            autocompletion=cli.engines,
        ),
    ] = "uv",
    python: Annotated[
        str | None,
        typer.Option(help="Python to build from: a version (3.12) or a path on the nodes."),
    ] = None,
    channels: Channels = None,
    as_json: Json = False,
) -> None:
    """Create an environment; then install packages with 'hipercow environment provision'."""
    from hipercow_core.environments import create_environment

    record = create_environment(Root.find(), name, engine, python, _new_channels(engine, channels))
    if as_json:
        cli.emit_json(record)
        return
    cli.success(f"Created environment '{name}' (engine {engine})")
    if engine != "empty":
        cli.out(f"Install packages with: hipercow environment provision {name} PKG ...")


def _new_channels(engine: str, channels: list[str] | None) -> tuple[str, ...]:
    """A new environment's conda channels, directories made absolute; refused for other engines.

    The conda engine checks and normalises them further when provisioning.
    """
    from hipercow_core.errors import InvalidInputError

    if not channels:
        return ()
    if engine != "conda":
        raise InvalidInputError(
            "--channel is for conda environments", "Create it with '--engine conda'."
        )

    def absolute(channel: str) -> str:
        if channel.startswith(("/", ".", "~")):
            return Path(channel).expanduser().resolve().as_uri()
        return channel.rstrip("/")

    return tuple(dict.fromkeys(absolute(c.strip()) for c in channels))


@app.command("list")
def list_(as_json: Json = False) -> None:
    """List the environments: name, engine, and the platforms they are built for."""
    from hipercow_core.environments import list_environments, read_builds

    root = Root.find()
    found = [(record, read_builds(root, record.name)) for record in list_environments(root)]
    if as_json:
        cli.emit_json(
            [{**msgspec.to_builtins(r), "builds": [b.key for b in builds]} for r, builds in found]
        )
        return
    table = cli.table("name", "engine", "python", "builds")
    for record, builds in found:
        shown = ", ".join(b.key for b in builds) or ("-" if record.engine == "empty" else "none")
        table.add_row(record.name, record.engine, record.python or "-", shown)
    cli.print_table(table)


@app.command("show")
def show(name: Name, as_json: Json = False) -> None:
    """Show an environment: its engine, builds, attempts and any provisioning in progress."""
    from hipercow_core import environments as envs

    root = Root.find()
    record = envs.read_environment(root, name)
    builds = envs.read_builds(root, name) if name != envs.EMPTY else []
    running = envs.read_running(root, name) if name != envs.EMPTY else None
    entries: list[HistoryEntry] = []
    if record.engine != envs.EMPTY:
        from hipercow_provision.provision import environment_history

        entries = environment_history(root, name)
    if as_json:
        cli.emit_json(
            {
                "environment": record,
                "builds": builds,
                "attempts": len(entries),
                "latest": entries[-1] if entries else None,
                "running": running,
            }
        )
        return
    rows = [
        ("name", record.name),
        ("engine", record.engine),
        ("python", record.python or "hipercow's own"),
        *([("channels", ", ".join(record.channels))] if record.channels else []),
        ("created", cli.show_time(record.created)),
        ("directory", str(envs.environment_dir(root, name)) if name != envs.EMPTY else "-"),
        ("attempts", str(len(entries))),
    ]
    if entries:
        latest = entries[-1]
        rows.append(("latest", f"{latest.number}: {latest.id} {latest.status}"))
    if running is not None and entries and entries[-1].status in ("queued", "running"):
        rows.append(("provisioning", f"attempt {running.attempt}, task {running.task_id or '-'}"))
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        cli.out(f"{key:>{width}}  {value}")
    if builds:
        table = cli.table("build", "python", "attempt", "updated", "interpreter")
        for build in builds:
            table.add_row(
                build.key,
                build.python_version,
                build.attempt,
                cli.show_time(build.updated),
                str(envs.build_interpreter(root, name, build) or "hipercow's own"),
            )
        cli.out()
        cli.print_table(table)


@app.command("delete")
def delete(
    name: Name,
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete even while tasks using it are queued or running."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Delete one environment (its builds and history); the name is required."""
    from hipercow_core.environment_use import delete_environment

    delete_environment(Root.find(), name, force=force)
    if as_json:
        cli.emit_json({"deleted": name})
    else:
        cli.success(f"Deleted environment '{name}'")


def _wait_for_tasks(root: Root, name: str) -> None:
    from hipercow_provision.provision import wait_for_tasks

    with cli.spinner(f"Waiting for tasks using '{name}'") as spin:

        def show(busy: list[str]) -> None:
            if spin is not None:
                spin.update(f"Waiting for {len(busy)} task(s) using '{name}' to finish")

        wait_for_tasks(root, name, on_poll=show)


def _follow(root: Root, task_id: str, stream: BinaryIO | None = None) -> None:
    from hipercow_core.tasks import follow_log

    target = stream or sys.stdout.buffer
    try:
        # Polled often (reading files is free): a provisioning's last lines and its end show
        # promptly; the driver is asked far less often (see follow_log).
        for chunk in follow_log(root, task_id, poll=0.02):
            target.write(chunk)
            target.flush()
    except KeyboardInterrupt:
        cli.err(
            f"Stopped watching; the provisioning goes on as task {task_id} "
            f"('hipercow task log --follow {task_id}' to watch it again)."
        )
        raise typer.Exit(130) from None


@app.command("provision")
def provision(
    name: Name,
    packages: Packages = None,
    requirements: Requirements = None,
    pyproject: Pyproject = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Rebuild from an empty environment.")
    ] = False,
    python: Annotated[
        str | None, typer.Option(help="Python to build from (default: the environment's).")
    ] = None,
    wait_for_tasks: Annotated[
        bool,
        typer.Option(
            "--wait-for-tasks", help="First wait for tasks using the environment to finish."
        ),
    ] = False,
    detach: Annotated[
        bool, typer.Option("--detach", help="Submit and return without following the log.")
    ] = False,
    driver: Driver = None,
    channels: Channels = None,
    environment_file: EnvironmentFile = None,
    from_attempt: FromAttempt = None,
    as_json: Json = False,
) -> None:
    """Install packages into an environment, as a job on the cluster, following its log.

    With no packages: the last attempt's inputs again (a requirements file or
    pyproject.toml is read afresh), else the project's pyproject.toml or
    requirements.txt. Exits non-zero unless the attempt succeeded.
    """
    from hipercow_core.drivers.registry import expect_submission
    from hipercow_provision.provision import attempt_verdict, start_provision

    root = Root.find()
    conda = CondaInputs(channels, environment_file, from_attempt)
    inputs = _inputs(root, name, packages, requirements, pyproject, conda)
    # Inputs refused leave the root as it was; accepted, the local daemon starts while
    # the job is made.
    expect_submission(root, driver)
    if wait_for_tasks:
        _wait_for_tasks(root, name)
    started = start_provision(root, name, inputs, fresh=fresh, python=python, driver=driver)
    if started.busy_tasks:
        busy = started.busy_tasks
        cli.warn(
            f"{len(busy)} task(s) using '{name}' are queued or running (e.g. {busy[0]}); "
            "installing now may disturb them (use --wait-for-tasks to wait for them first)"
        )
    if detach:
        if as_json:
            cli.emit_json(started)
        else:
            cli.out(f"Provisioning '{name}': attempt {started.attempt}, task {started.task_id}")
        return
    cli.err(
        f"Provisioning '{name}' as task {started.task_id} (attempt {started.attempt}); its log:"
    )
    _follow(root, started.task_id, sys.stderr.buffer if as_json else None)
    entry, error = attempt_verdict(root, started)
    if as_json:
        cli.emit_json(entry)
    if error is not None:
        raise error
    if not as_json:
        count = len(entry.result.packages) if entry.result else 0
        build = entry.result.build if entry.result else "-"
        cli.success(
            f"Provisioned '{name}' ({build}): "
            f"{count} package{'' if count == 1 else 's'}, attempt {entry.number}"
        )


@app.command("history")
def history(name: Name, as_json: Json = False) -> None:
    """Every provisioning attempt: status, when, build, package count, inputs."""
    from hipercow_provision.provision import environment_history
    from hipercow_provision.render import history_rows

    entries = environment_history(Root.find(), name)
    if as_json:
        cli.emit_json(entries)
        return
    if not entries:
        cli.out(f"No attempts yet: provision it with 'hipercow environment provision {name}'")
        return
    header, *rows = history_rows(entries)
    table = cli.table(*header)
    for row in rows:
        table.add_row(*row[:2], cli.styled(row[2], _STATUS_STYLE.get(row[2])), *row[3:])
    cli.print_table(table)


@app.command("compare")
def compare(
    name: Name,
    a: Annotated[
        str | None,
        typer.Argument(help="Older attempt: its number or id (default: the one before the newer)."),
    ] = None,
    b: Annotated[str | None, typer.Argument(help="Newer attempt (default: the latest).")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show unchanged packages too.")] = False,
    as_json: Json = False,
) -> None:
    """Packages added, removed and updated between two attempts (default: the last two)."""
    from hipercow_provision.history import compare_selected
    from hipercow_provision.provision import environment_history
    from hipercow_provision.render import COMPARE_ORDER, version_text

    entries = environment_history(Root.find(), name)
    comparison = compare_selected(entries, a, b)
    if as_json:
        cli.emit_json(comparison)
        return
    number = {e.id: e.number for e in entries}
    status = {e.id: e.status for e in entries}

    def side(attempt: str) -> str:
        failed = "" if status[attempt] == "success" else f", {status[attempt]}"
        return f"{number[attempt]} ({attempt}{failed})"

    cli.out(f"Attempt {side(comparison.a)} -> {side(comparison.b)}")
    shown = [c for c in comparison.changes if show_all or c.change != "unchanged"]
    if shown:
        table = cli.table("package", "change", "old", "new")
        for kind in COMPARE_ORDER:
            for change in (c for c in shown if c.change == kind):
                old, new = version_text(change)
                table.add_row(change.name, cli.styled(kind, _CHANGE_STYLE[kind]), old, new)
        cli.print_table(table)
    counts = ", ".join(f"{len(comparison.of_kind(k))} {k}" for k in COMPARE_ORDER)
    cli.out(counts if shown else f"No changes ({counts})")
    for attempt in dict.fromkeys((comparison.a, comparison.b)):
        if status[attempt] != "success":
            cli.out(
                f"Attempt {number[attempt]} {status[attempt]}: its packages are what it left "
                f"in the build ('hipercow environment log {name} {number[attempt]}' says why)."
            )


@app.command("check")
def check(
    name: Name,
    packages: Packages = None,
    requirements: Requirements = None,
    pyproject: Pyproject = False,
    channels: Channels = None,
    environment_file: EnvironmentFile = None,
    as_json: Json = False,
) -> None:
    """Would a new attempt change the inputs? Exits 0 if not, 1 if it would.

    With no packages, checks the last attempt's source (its file read afresh).
    """
    from hipercow_provision.inputs import describe
    from hipercow_provision.provision import check_environment

    root = Root.find()
    conda = CondaInputs(channels, environment_file)
    inputs = _inputs(root, name, packages, requirements, pyproject, conda)
    outcome = check_environment(root, name, inputs)
    if as_json:
        cli.emit_json(outcome)
    elif outcome.last is None:
        cli.out(f"Changed: '{name}' has no successful attempt yet")
    elif outcome.changed:
        cli.out(
            f"Changed: {describe(outcome.inputs)} differs from the inputs of attempt {outcome.last}"
        )
    else:
        cli.out(f"Unchanged: same inputs as attempt {outcome.last}")
    if outcome.changed:
        raise typer.Exit(1)


@app.command("log")
def log(
    name: Name,
    attempt: Annotated[
        str, typer.Argument(help="Attempt: its number or id (default: the latest).")
    ] = "latest",
) -> None:
    """Show the log of a provisioning attempt."""
    from hipercow_provision.history import select
    from hipercow_provision.provision import environment_history, store_for

    root = Root.find()
    chosen = select(environment_history(root, name), attempt)
    text = store_for(root, name).read_log(chosen.id)
    if text is None:
        cli.err(f"No log for attempt {chosen.number} ({chosen.id})")
        raise typer.Exit(1)
    sys.stdout.write(text)
