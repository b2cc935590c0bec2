"""The `hipercow` command: wires the sub-commands together and turns errors into two lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hipercow_cli import output
from hipercow_cli.errors import check_arguments, report, want_traceback
from hipercow_core import __version__
from hipercow_core.errors import HipercowError

app = typer.Typer(
    name="hipercow",
    help="Run your project's work on an HPC cluster: tasks, logs, results, environments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        output.out(f"hipercow {__version__}")
        raise typer.Exit()


@app.callback()
def root_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show debug logging on stderr.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Run your project's work on an HPC cluster: tasks, logs, results, environments."""
    if verbose:
        from hipercow_core.log import enable_logging

        enable_logging("debug")


@app.command("init")
def init(
    path: Annotated[Path, typer.Argument(help="Project directory.")] = Path(),
) -> None:
    """Create a hipercow root in the project directory (safe to run again)."""
    from hipercow_core.root import Root

    root, created = Root.init(path)
    if created:
        output.success(f"Initialised hipercow at '{root.project}'")
    else:
        output.out(f"hipercow is already initialised at '{root.project}'")


# Our sub-commands in the order `hipercow --help` lists them: (module, attribute,
# whether it is a group of commands). Only the one being run is imported,
# which keeps quick commands such as `hipercow task status` quick.
SUBCOMMANDS: dict[str, tuple[str, str, bool]] = {
    "driver": ("hipercow_cli.commands.driver", "app", True),
    "cluster": ("hipercow_cli.commands.driver", "cluster_app", True),
    "task": ("hipercow_cli.commands.task", "app", True),
    "environment": ("hipercow_cli.commands.environment", "app", True),
    "bulk": ("hipercow_cli.commands.bulk", "app", True),
    "bundle": ("hipercow_cli.commands.bundle", "app", True),
    "purge": ("hipercow_cli.commands.purge", "purge", False),
}
BUILTIN_COMMANDS = frozenset({"init", *SUBCOMMANDS})


def _command_in(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def _add_subcommands(argv: list[str]) -> None:
    """Attach the sub-command being run, or all of them when showing help."""
    from importlib import import_module

    wanted = _command_in(argv)
    for name, (module, attribute, group) in SUBCOMMANDS.items():
        if wanted in SUBCOMMANDS and name != wanted:
            continue
        target = getattr(import_module(module), attribute)
        if group:
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)


def _add_plugins(argv: list[str]) -> None:
    """Sub-apps that other packages register under the `hipercow.cli` entry point group.

    Scanning installed packages for entry points is the slowest part of
    start-up, so it is skipped when the command is one of our own.
    """
    if _command_in(argv) in BUILTIN_COMMANDS:
        return
    from hipercow_core import plugins

    for name, value in sorted(plugins.targets(plugins.COMMANDS).items()):
        try:
            sub = plugins.load_target(value)
        except Exception as e:
            output.warn(f"ignoring the '{name}' commands: {value} failed to load ({e})")
            continue
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)


def _show_warnings() -> None:
    """Show hipercow's warnings (e.g. a scheduler that cannot be reached) as one line each."""
    import warnings

    from hipercow_core.errors import HipercowWarning

    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, HipercowWarning):
            output.warn(str(message))
        else:
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show


def main() -> None:
    """Console-script entry point; typer reports usage errors, we report the rest."""
    _show_warnings()
    try:
        check_arguments(sys.argv[1:])
    except HipercowError as e:
        sys.exit(report(e))
    _add_subcommands(sys.argv[1:])
    _add_plugins(sys.argv[1:])
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:
        if want_traceback():
            raise
        sys.exit(report(e))
