"""`hipercow-provision`: build an environment at a prefix and keep its history, with no hipercow root.

    hipercow-provision run PREFIX --history DIR [--engine uv|pip|conda] [PKG ... | -r FILE | --pyproject | --file environment.yml] [--channel C ...]
    hipercow-provision history --history DIR
    hipercow-provision compare --history DIR [A] [B] [--all]
    hipercow-provision check --history DIR [PKG ... | -r FILE | --pyproject]
    hipercow-provision log --history DIR [ATTEMPT]

The history is the same as an environment's in a hipercow root (one
directory per attempt), so the same attempts can be read either way. It is
built on typer like `hipercow` and speaks the same way (two-line errors from
`hipercow_core.error_text`, `--json`, `-v`), but needs neither a root nor
hipercow-cli. Exit codes are `hipercow`'s: 0 success (for `check`: nothing
would change), 1 an error, a failed attempt, or (for `check`) changed inputs,
2 a command line that does not parse, 70 a bug.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hipercow_core.error_text import error_text, want_traceback
from hipercow_core.errors import InvalidInputError

if TYPE_CHECKING:
    from hipercow_core.schema import ProvisionInputs
    from hipercow_provision.history import HistoryEntry, HistoryStore

HISTORY_ENV = "HIPERCOW_PROVISION_HISTORY"

app = typer.Typer(
    name="hipercow-provision",
    help="Build a Python environment at a prefix and keep a history of every attempt.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    suggest_commands=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

History = Annotated[
    Path | None,
    typer.Option(
        "--history",
        envvar=HISTORY_ENV,
        help="Directory keeping the attempts.",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Packages = Annotated[
    list[str] | None,
    typer.Argument(metavar="[PKG]...", help="Packages to install.", show_default=False),
]
Requirements = Annotated[
    Path | None, typer.Option("--requirements", "-r", help="Install from a requirements file.")
]
Pyproject = Annotated[
    bool,
    typer.Option(
        "--pyproject",
        help="Install the dependencies that ./pyproject.toml lists.",
    ),
]
Channels = Annotated[
    list[str] | None,
    typer.Option(
        "--channel",
        "-c",
        help="A conda channel, repeatable in priority order (conda engine).",
        show_default=False,
    ),
]
EnvironmentFile = Annotated[
    Path | None, typer.Option("--file", "-f", help="A conda environment.yml (conda engine).")
]
Engine = Annotated[
    str | None,
    typer.Option(
        help="uv, pip or conda (default: the last attempt's, else uv).", show_default=False
    ),
]


def _version(value: bool) -> None:
    if value:
        from hipercow_core import __version__

        sys.stdout.write(f"hipercow-provision {__version__}\n")
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
    """Build a Python environment at a prefix and keep a history of every attempt.

    Needs no hipercow root: the history directory holds every attempt, laid
    out as an environment's history in a root.
    """
    if verbose:
        from hipercow_core.log import enable_logging

        enable_logging("debug")


def _store(history: Path | None) -> HistoryStore:
    from hipercow_provision.history import HistoryStore

    if history is None:
        raise InvalidInputError(
            "no history directory given", f"Give --history DIR, or set ${HISTORY_ENV}."
        )
    return HistoryStore(history)


def _emit_json(value: object) -> None:
    import msgspec

    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(value), indent=2) + b"\n")
    sys.stdout.flush()


def _entries(store: HistoryStore) -> list[HistoryEntry]:
    from hipercow_provision import history as hist

    return hist.read_history(store, hist.standalone_reconciler(store))


class _Inputs:
    """What `run` and `check` were asked to install, as given on the command line."""

    def __init__(
        self,
        packages: list[str] | None,
        requirements: Path | None,
        pyproject: bool,
        channels: list[str] | None,
        environment_file: Path | None,
    ) -> None:
        self.packages = packages or []
        self.requirements = requirements
        self.pyproject = Path("pyproject.toml") if pyproject else None
        self.channels = tuple(channels or ())
        self.environment_file = environment_file

    def resolve(self, last: ProvisionInputs | None, engine_name: str) -> ProvisionInputs:
        """The inputs for a new attempt (the last attempt's when none are given), checked by the engine."""
        from hipercow_core.environments import load_engine
        from hipercow_provision.inputs import InputsChecker, select_inputs

        inputs = select_inputs(
            Path.cwd(),
            requirements=self.requirements,
            pyproject=self.pyproject,
            packages=self.packages,
            last=last,
            environment_file=self.environment_file,
        )
        engine = load_engine(engine_name)
        if isinstance(engine, InputsChecker):
            return engine.check_inputs(inputs, self.channels, ())
        if self.channels or inputs.kind == "environment":
            raise InvalidInputError(
                "--channel and --file are for the conda engine", "Use --engine conda."
            )
        return inputs


@app.command("run")
def run(
    prefix: Annotated[
        Path, typer.Argument(help="Where the environment lives.", show_default=False)
    ],
    packages: Packages = None,
    history: History = None,
    requirements: Requirements = None,
    pyproject: Pyproject = False,
    channels: Channels = None,
    environment_file: EnvironmentFile = None,
    engine: Engine = None,
    python: Annotated[
        str | None,
        typer.Option(help="Python to build from: a version (3.12) or a path.", show_default=False),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start from an empty environment.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not show the build's output.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Build (or update) the environment at PREFIX, recording the attempt in the history.

    With no packages: the last attempt's inputs again (a requirements file or
    pyproject.toml is read afresh), else ./pyproject.toml or
    ./requirements.txt. Exits 1 unless the attempt succeeded.
    """
    from hipercow_provision.history import HistoryEntry
    from hipercow_provision.inputs import plural
    from hipercow_provision.standalone import build_attempt

    store = _store(history)
    given = _Inputs(packages, requirements, pyproject, channels, environment_file)
    echo = None if quiet or as_json else sys.stdout.buffer
    number, attempt, result = build_attempt(
        store, _entries(store), prefix.resolve(), given.resolve, engine, python, fresh, echo
    )
    if as_json:
        _emit_json(HistoryEntry(number, attempt, result.status, result))
    if result.status != "success":
        from hipercow_core.errors import HipercowError

        raise HipercowError(
            f"attempt {attempt.id} {result.status}: {result.error}",
            f"The log: hipercow-provision log --history {store.directory} {attempt.id}",
        )
    if not as_json:
        sys.stdout.write(
            f"Built {attempt.prefix} ({result.build}): {plural(len(result.packages), 'package')}, "
            f"attempt {attempt.id}\n"
        )


@app.command("history")
def history_(history: History = None, as_json: Json = False) -> None:
    """List every attempt: when, its status, how long it took, what it installed."""
    from hipercow_provision.render import history_rows, table

    store = _store(history)
    entries = _entries(store)
    if as_json:
        _emit_json(entries)
    elif entries:
        sys.stdout.write(table(*history_rows(entries)))
    else:
        sys.stdout.write(f"No attempts yet in '{store.directory}'\n")


@app.command("compare")
def compare(
    a: Annotated[
        str | None,
        typer.Argument(help="Older attempt (number, -N, or id).", show_default=False),
    ] = None,
    b: Annotated[
        str | None,
        typer.Argument(help="Newer attempt (default: the latest).", show_default=False),
    ] = None,
    history: History = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show unchanged packages too.")] = False,
    as_json: Json = False,
) -> None:
    """Compare two attempts' packages (default: the latest finished one against the one before)."""
    from hipercow_provision import history as hist
    from hipercow_provision.render import comparison_lines

    comparison = hist.compare_selected(_entries(_store(history)), a, b)
    if as_json:
        _emit_json(comparison)
    else:
        sys.stdout.write("".join(f"{line}\n" for line in comparison_lines(comparison, show_all)))


@app.command("check")
def check(
    packages: Packages = None,
    history: History = None,
    requirements: Requirements = None,
    pyproject: Pyproject = False,
    channels: Channels = None,
    environment_file: EnvironmentFile = None,
    engine: Engine = None,
    as_json: Json = False,
) -> None:
    """Would a new attempt change the inputs? Exits 0 if not, 1 if it would."""
    from hipercow_provision import history as hist
    from hipercow_provision.inputs import describe

    entries = _entries(_store(history))
    engine_name = engine or (entries[-1].attempt.engine if entries else "uv")
    given = _Inputs(packages, requirements, pyproject, channels, environment_file)
    outcome = hist.check(
        entries, engine_name, given.resolve(hist.last_inputs(entries), engine_name)
    )
    if as_json:
        _emit_json(outcome)
    elif outcome.last is None:
        sys.stdout.write("Changed: no attempt has succeeded yet\n")
    elif outcome.changed:
        sys.stdout.write(
            f"Changed: {describe(outcome.inputs)} differs from the inputs of attempt {outcome.last}\n"
        )
    else:
        sys.stdout.write(f"Unchanged: same inputs as attempt {outcome.last}\n")
    if outcome.changed:
        raise typer.Exit(1)


@app.command("log")
def log(
    attempt: Annotated[str, typer.Argument(help="Attempt: number, -N, id, or latest.")] = "latest",
    history: History = None,
) -> None:
    """Show an attempt's log: the build's commands and their output."""
    from hipercow_provision import history as hist

    store = _store(history)
    chosen = hist.select(_entries(store), attempt)
    text = store.read_log(chosen.id)
    if text is None:
        raise InvalidInputError(
            f"attempt {chosen.id} has no log", "It stopped before its build started."
        )
    sys.stdout.write(text)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: typer reports usage errors (exit 2), we report the rest."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args, prog_name="hipercow-provision")
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:
        if want_traceback():
            raise
        text, code = error_text(e, colour=sys.stderr.isatty() and "NO_COLOR" not in os.environ)
        sys.stderr.write(text)
        sys.exit(code)


if __name__ == "__main__":
    main()
