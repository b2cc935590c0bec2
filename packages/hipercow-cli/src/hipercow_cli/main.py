"""The `hipercow` command: wires the sub-commands together and turns errors into two lines."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import click
import typer
import typer.core

from hipercow_cli import output
from hipercow_cli.completion import COMPLETE_VAR
from hipercow_cli.errors import check_arguments, report, want_traceback
from hipercow_core import __version__
from hipercow_core.errors import HipercowError

# The order `hipercow --help` lists commands in: ours, with the places of the
# plugins hipercow's own packages add (`environment` from hipercow-provision);
# any other plugin follows, by name.
HELP_ORDER = (
    "init",
    "driver",
    "cluster",
    "task",
    "environment",
    "bulk",
    "bundle",
    "secret",
    "purge",
    "hello",
    "configuration",
)


class _OrderedGroup(typer.core.TyperGroup):
    """Lists commands in `HELP_ORDER` (typer keeps the order they were added in)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        known = {name: i for i, name in enumerate(HELP_ORDER)}
        return sorted(self.commands, key=lambda n: (known.get(n, len(known)), n))


def _version(value: bool) -> None:
    if value:
        output.out(f"hipercow {__version__}")
        raise typer.Exit()


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


# Our sub-commands: (module, attribute, whether it is a group of commands).
# Only the one being run is imported, which keeps quick commands such as
# `hipercow task status` quick.
SUBCOMMANDS: dict[str, tuple[str, str, bool]] = {
    "driver": ("hipercow_cli.commands.driver", "app", True),
    "cluster": ("hipercow_cli.commands.driver", "cluster_app", True),
    "task": ("hipercow_cli.commands.task", "app", True),
    "bulk": ("hipercow_cli.commands.bulk", "app", True),
    "bundle": ("hipercow_cli.commands.bundle", "app", True),
    "secret": ("hipercow_cli.commands.secret", "app", True),
    "purge": ("hipercow_cli.commands.purge", "purge", False),
    "hello": ("hipercow_cli.commands.hello", "hello", False),
    "configuration": ("hipercow_cli.commands.configuration", "configuration", False),
}
BUILTIN_COMMANDS = frozenset({"init", *SUBCOMMANDS})


def _command_in(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def _root_app() -> typer.Typer:
    app = typer.Typer(
        cls=_OrderedGroup,
        name="hipercow",
        help="Run your project's work on an HPC cluster: tasks, logs, results, environments.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        # --install-completion / --show-completion, and answering the shell;
        # values come from `hipercow_cli.completion`
        add_completion=True,
        # click already suggests a close command name; typer's own would repeat it
        suggest_commands=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root_options)
    app.command("init")(init)
    return app


def command_for(argv: list[str]) -> typer.Typer:
    """The `hipercow` command with what `argv` runs attached.

    Only the one sub-command being run is imported: one of ours, or else a
    plugin's (found without a full entry-point scan when one of hipercow's
    packages provides it). Everything is attached for `--help`, no command,
    or a name nobody provides, so typer can list them all.
    """
    from hipercow_core import plugins

    app = _root_app()
    wanted = _command_in(argv)
    if wanted in BUILTIN_COMMANDS:
        _add_subcommands(app, [wanted] if wanted != "init" else [])
        return app
    one = plugins.target(plugins.COMMANDS, wanted) if wanted else None
    if wanted is not None and one is not None:
        _add_plugins(app, {wanted: one})
        return app
    _add_subcommands(app, list(SUBCOMMANDS))
    _add_plugins(app, plugins.targets(plugins.COMMANDS))
    return app


def _add_subcommands(app: typer.Typer, names: list[str]) -> None:
    """Attach these built-in sub-commands, importing their modules."""
    from importlib import import_module

    for name in names:
        module, attribute, group = SUBCOMMANDS[name]
        target = getattr(import_module(module), attribute)
        if group:
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)


def _add_plugins(app: typer.Typer, found: dict[str, str]) -> None:
    """Attach sub-apps other packages register under `hipercow.cli` (name -> "module:attr").

    A plugin that fails to load is reported in one line and left out, so one
    broken package cannot take the whole command down.
    """
    from hipercow_core import plugins

    for name, value in found.items():
        try:
            sub = plugins.load_target(value)
        except Exception as e:
            output.warn(f"ignoring the '{name}' commands: {value} failed to load ({e})")
            continue
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)
        else:
            output.warn(f"ignoring the '{name}' commands: {value} is not a typer.Typer")


def _show_warning(
    message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any
) -> None:
    """Show hipercow's warnings (e.g. a scheduler that cannot be reached) as one line each."""
    from hipercow_core.errors import HipercowWarning

    if issubclass(category, HipercowWarning):
        output.warn(str(message))
    else:
        _python_show_warning(message, category, *args, **kwargs)


_python_show_warning = warnings.showwarning


def _words_for_attaching(args: list[str]) -> list[str]:
    """The words that say which sub-command to attach: the shell's when it asks for completions.

    The shell runs `hipercow` with no arguments and the command line in the
    environment; reading it back keeps a TAB as quick as the command itself.
    """
    if not os.environ.get(COMPLETE_VAR):
        return args
    from hipercow_cli.completion import command_words

    return command_words()


def _writes_completion_script(args: list[str]) -> bool:
    """Whether this run installs or prints the shell's completion script."""
    shown = any(a in ("--install-completion", "--show-completion") for a in args)
    return shown or os.environ.get(COMPLETE_VAR, "").startswith("source")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; typer reports usage errors, we report the rest."""
    warnings.showwarning = _show_warning
    output.never_fail_on_encoding()
    args = sys.argv[1:] if argv is None else argv
    try:
        check_arguments(args)
    except HipercowError as e:
        sys.exit(report(e))
    if _writes_completion_script(args):
        from hipercow_cli.completion import keep_our_order_in_bash

        keep_our_order_in_bash()
    app = command_for(_words_for_attaching(args))
    try:
        app(args, prog_name="hipercow")
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:
        if want_traceback():
            raise
        sys.exit(report(e))
