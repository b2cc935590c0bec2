"""`hipercow-provision`: build an environment at a prefix and keep its history, with no hipercow root.

    hipercow-provision run PREFIX --history DIR [--engine uv|pip|conda] [PKG ... | --requirements FILE | --pyproject [FILE] | --file environment.yml] [--channel C ...]
    hipercow-provision history --history DIR
    hipercow-provision compare --history DIR [A] [B] [--all]
    hipercow-provision check --history DIR [PKG ... | --requirements FILE | --pyproject [FILE]]
    hipercow-provision log --history DIR [ATTEMPT]

The history is the same as an environment's in a hipercow root (one
directory per attempt), so the same attempts can be read either way. Only the
standard library is used for the command line, so this works wherever
hipercow-core is installed. Exit codes: 0 success (for `check`: nothing would
change), 1 a failed attempt (for `check`: the inputs changed), 2 an error.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from hipercow_core.environments import load_engine
from hipercow_core.errors import HipercowError, InvalidInputError
from hipercow_core.schema import ProvisionAttempt, ProvisionInputs, ProvisionRunning
from hipercow_provision import history as hist
from hipercow_provision.build import execute
from hipercow_provision.history import HistoryEntry, HistoryStore, ProvisionBusyError
from hipercow_provision.inputs import (
    InputsChecker,
    describe,
    inputs_hash,
    plural,
    select_inputs,
)
from hipercow_provision.render import comparison_lines, history_rows, table

HISTORY_ENV = "HIPERCOW_PROVISION_HISTORY"


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser (for help) and one parser per command.

    Each command parses its own arguments with `parse_intermixed_args`, so
    package names may come before or after options (`run PREFIX --history H six`),
    which argparse's sub-parsers cannot do.
    """
    parser = argparse.ArgumentParser(
        prog="hipercow-provision",
        description="Build a Python environment at a prefix and keep a history of every attempt.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_history(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--history",
            type=Path,
            default=os.environ.get(HISTORY_ENV),
            required=HISTORY_ENV not in os.environ,
            help=f"Directory keeping the attempts (default: ${HISTORY_ENV}).",
        )

    def with_inputs(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("packages", nargs="*", metavar="PKG", help="Packages to install.")
        sub.add_argument("--requirements", "-r", type=Path, help="A requirements file.")
        sub.add_argument(
            "--pyproject",
            nargs="?",
            type=Path,
            const=Path("pyproject.toml"),
            help="Install a pyproject.toml's [project] dependencies (default: ./pyproject.toml).",
        )

    def with_conda_inputs(sub: argparse.ArgumentParser) -> None:
        """Inputs of the conda engine (hipercow-conda-env): channels and an environment.yml."""
        sub.add_argument(
            "--channel",
            "-c",
            action="append",
            default=[],
            help="A conda channel, repeatable in priority order (conda engine).",
        )
        sub.add_argument(
            "--file", "-f", type=Path, dest="environment_file", help="A conda environment.yml."
        )

    run = commands.add_parser("run", help="Build (or update) the environment at PREFIX.")
    run.add_argument("prefix", type=Path, metavar="PREFIX", help="Where the environment lives.")
    with_history(run)
    with_inputs(run)
    with_conda_inputs(run)
    run.add_argument("--engine", default=None, help="uv (default), pip or conda.")
    run.add_argument("--python", help="Python to build from: a version (3.12) or a path.")
    run.add_argument("--fresh", action="store_true", help="Start from an empty environment.")
    run.add_argument("--quiet", "-q", action="store_true", help="Do not show the build's output.")
    run.add_argument("--json", action="store_true", help="Print the outcome as JSON.")

    history = commands.add_parser("history", help="List every attempt.")
    with_history(history)
    history.add_argument("--json", action="store_true", help="Print JSON.")

    compare = commands.add_parser("compare", help="Compare two attempts' packages.")
    with_history(compare)
    compare.add_argument("a", nargs="?", help="Older attempt (number, -N, or id).")
    compare.add_argument("b", nargs="?", help="Newer attempt (default: the latest).")
    compare.add_argument("--all", action="store_true", help="Show unchanged packages too.")
    compare.add_argument("--json", action="store_true", help="Print JSON.")

    check = commands.add_parser("check", help="Would a new attempt change the inputs?")
    with_history(check)
    with_inputs(check)
    with_conda_inputs(check)
    check.add_argument("--engine", default=None, help="Engine of the new attempt.")
    check.add_argument("--json", action="store_true", help="Print JSON.")

    show_log = commands.add_parser("log", help="Show an attempt's log.")
    with_history(show_log)
    show_log.add_argument("attempt", nargs="?", default="latest", help="Attempt (default: latest).")
    subs = {"run": run, "history": history, "compare": compare, "check": check, "log": show_log}
    for name, sub in subs.items():
        sub.prog = f"hipercow-provision {name}"
    return parser, subs


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser, subs = _parsers()
    if not argv or argv[0] not in subs:
        return parser.parse_args(argv)
    args = subs[argv[0]].parse_intermixed_args(argv[1:])
    args.command = argv[0]
    return args


def _emit_json(value: object) -> None:
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(value), indent=2) + b"\n")
    sys.stdout.flush()


def _entries(store: HistoryStore) -> list[HistoryEntry]:
    return hist.read_history(store, hist.standalone_reconciler(store))


def _inputs(
    args: argparse.Namespace, last: ProvisionInputs | None, engine_name: str
) -> ProvisionInputs:
    inputs = select_inputs(
        Path.cwd(),
        requirements=args.requirements,
        pyproject=args.pyproject,
        packages=args.packages,
        last=last,
        environment_file=args.environment_file,
    )
    engine = load_engine(engine_name)
    if isinstance(engine, InputsChecker):
        return engine.check_inputs(inputs, tuple(args.channel), ())
    if args.channel or inputs.kind == "environment":
        raise InvalidInputError(
            "--channel and --file are for the conda engine", "Use --engine conda."
        )
    return inputs


def _run(args: argparse.Namespace) -> int:
    from filelock import Timeout

    store = HistoryStore(args.history)
    entries = _entries(store)
    engine_name = args.engine or (entries[-1].attempt.engine if entries else "uv")
    engine = load_engine(engine_name)
    if not engine.needs_build:
        raise InvalidInputError(f"the '{engine_name}' engine has nothing to build")
    inputs = _inputs(args, hist.last_inputs(entries), engine_name)
    prefix: Path = args.prefix.resolve()
    lock = store.lock()
    try:
        lock.acquire(timeout=1)
    except Timeout:
        running = store.read_running()
        detail = (
            f": attempt {running.attempt}, pid {running.pid} on {running.host}" if running else ""
        )
        raise ProvisionBusyError(
            f"another provisioning is using the history '{args.history}'{detail}",
            "Wait for it to finish, then run again.",
        ) from None
    try:
        stale = store.read_running()
        if stale is not None and stale.attempt in store.attempt_ids():
            stale_attempt = store.read_attempt(stale.attempt)
            store.write_result(
                hist.lost_result(stale_attempt, "the build stopped without recording an outcome")
            )
        now = datetime.now(UTC)
        attempt = ProvisionAttempt(
            id=hist.new_attempt_id(now),
            engine=engine_name,
            inputs=inputs,
            inputs_hash=inputs_hash(engine_name, inputs),
            requested=now,
            host=socket.gethostname(),
            python=args.python,
            fresh=args.fresh,
            prefix=str(prefix),
        )
        store.update_claim(
            ProvisionRunning(attempt=attempt.id, started=now, host=attempt.host, pid=os.getpid())
        )
        store.write_attempt(attempt)
        echo = None if args.quiet or args.json else sys.stdout.buffer
        result, _ = execute(store, attempt, engine, lambda _key: prefix, echo=echo)
    finally:
        store.running_path.unlink(missing_ok=True)
        lock.release()
    if args.json:
        _emit_json(hist.HistoryEntry(len(entries) + 1, attempt, result.status, result))
    elif result.status == "success":
        sys.stdout.write(
            f"Built {prefix} ({result.build}): {plural(len(result.packages), 'package')}, "
            f"attempt {attempt.id}\n"
        )
    else:
        sys.stderr.write(
            f"Error: attempt {attempt.id} {result.status}: {result.error}\n"
            f"  The log: hipercow-provision log --history {args.history} {attempt.id}\n"
        )
    return 0 if result.status == "success" else 1


def _history(args: argparse.Namespace) -> int:
    entries = _entries(HistoryStore(args.history))
    if args.json:
        _emit_json(entries)
    elif entries:
        sys.stdout.write(table(*history_rows(entries)))
    else:
        sys.stdout.write(f"No attempts yet in '{args.history}'\n")
    return 0


def _compare(args: argparse.Namespace) -> int:
    comparison = hist.compare_selected(_entries(HistoryStore(args.history)), args.a, args.b)
    if args.json:
        _emit_json(comparison)
    else:
        sys.stdout.write("".join(f"{line}\n" for line in comparison_lines(comparison, args.all)))
    return 0


def _check(args: argparse.Namespace) -> int:
    entries = _entries(HistoryStore(args.history))
    engine = args.engine or (entries[-1].attempt.engine if entries else "uv")
    outcome = hist.check(entries, engine, _inputs(args, hist.last_inputs(entries), engine))
    if args.json:
        _emit_json(outcome)
    elif outcome.last is None:
        sys.stdout.write("Changed: no attempt has succeeded yet\n")
    elif outcome.changed:
        sys.stdout.write(
            f"Changed: {describe(outcome.inputs)} differs from the inputs of attempt {outcome.last}\n"
        )
    else:
        sys.stdout.write(f"Unchanged: same inputs as attempt {outcome.last}\n")
    return 1 if outcome.changed else 0


def _log(args: argparse.Namespace) -> int:
    store = HistoryStore(args.history)
    chosen = hist.select(_entries(store), args.attempt)
    text = store.read_log(chosen.id)
    if text is None:
        sys.stderr.write(f"No log for attempt {chosen.id}\n")
        return 1
    sys.stdout.write(text)
    return 0


_COMMANDS = {"run": _run, "history": _history, "compare": _compare, "check": _check, "log": _log}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(list(sys.argv[1:] if argv is None else argv))
    try:
        return _COMMANDS[args.command](args)
    except HipercowError as e:
        sys.stderr.write(f"Error: {e.message}\n")
        if e.hint:
            sys.stderr.write(f"  {e.hint}\n")
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
