"""Shell completion: which words the command line is at, and the values users type most.

typer completes commands and options itself; the functions here give it
values: task ids (newest first), bundle, environment and driver names, and
queues from the driver's saved cluster description. They run only while the
shell asks (`_HIPERCOW_COMPLETE` is set), so everything they need is imported
inside them and `hipercow`'s start-up pays nothing for them. A completion
never fails: outside a root, or with anything unreadable, it offers nothing.

The shell asks by running `hipercow` with no arguments and the words in the
environment, so `command_words` reads them back: `hipercow_cli.main` then
attaches only the sub-command being completed, as it does for a normal run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import click

COMPLETE_VAR = "_HIPERCOW_COMPLETE"
"""Set by the shell's completion script when it asks for completions."""
QUEUE_WAIT = 2.0
"""Seconds a completion waits for a driver's cluster description before offering nothing."""

Offered = list[tuple[str, str]]


def completing() -> bool:
    """Whether this run is the shell asking for completions."""
    return bool(os.environ.get(COMPLETE_VAR))


def command_words() -> list[str]:
    """The words before the one being completed, without the program's name."""
    if "COMP_WORDS" in os.environ:  # bash
        words = _split(os.environ["COMP_WORDS"])
        return words[1 : int(os.environ.get("COMP_CWORD", len(words)))]
    line = os.environ.get("_TYPER_COMPLETE_ARGS", "")  # zsh, fish, powershell
    words = _split(line)[1:]
    if words and not line.endswith(" "):
        words = words[:-1]  # the word being completed
    return words


def _split(line: str) -> list[str]:
    import shlex  # only while completing: `hipercow_cli.main` imports this module

    try:
        return shlex.split(line)
    except ValueError:  # an unclosed quote, mid-word
        return line.split()


def _safely(find: Callable[[], Iterable[tuple[str, str]]], incomplete: str) -> Offered:
    """The values `find` gives that start with `incomplete`; nothing if it fails at all."""
    try:
        return [(value, help) for value, help in find() if value.startswith(incomplete)]
    except Exception:
        return []


def task_ids(incomplete: str) -> Offered:
    """Task ids, newest first, each with its status and command (shown by zsh and fish)."""

    def find() -> Iterable[tuple[str, str]]:
        from hipercow_core.root import Root
        from hipercow_core.tasks import list_tasks

        found = list_tasks(Root.find(), reconcile=False)
        for task in reversed(found):
            yield task.id, f"{task.status} {' '.join(task.command)}"[:60]

    return _safely(find, incomplete)


def bundle_names(incomplete: str) -> Offered:
    """Bundle names, newest first, each with its number of tasks."""

    def find() -> Iterable[tuple[str, str]]:
        from hipercow_core.bundles import list_bundles
        from hipercow_core.root import Root

        for bundle in list_bundles(Root.find()):
            yield bundle.name, f"{len(bundle.task_ids)} tasks"

    return _safely(find, incomplete)


def task_ids_and_bundles(incomplete: str) -> Offered:
    """For `--depends-on`, which takes either."""
    return task_ids(incomplete) + bundle_names(incomplete)


def environment_names(incomplete: str) -> Offered:
    """Environments of the root, each with its engine."""

    def find() -> Iterable[tuple[str, str]]:
        from hipercow_core.environments import list_environments
        from hipercow_core.root import Root

        for record in list_environments(Root.find()):
            yield record.name, record.engine

    return _safely(find, incomplete)


def driver_names(incomplete: str) -> Offered:
    """Installed drivers (from the entry points, none of them imported)."""

    def find() -> Iterable[tuple[str, str]]:
        from hipercow_core.drivers.registry import available_drivers

        return ((name, "driver") for name in available_drivers())

    return _safely(find, incomplete)


def statuses(incomplete: str) -> Offered:
    """Task statuses, for `--status`, which also takes a comma-separated list: the last is completed."""

    def find() -> Iterable[tuple[str, str]]:
        from hipercow_core.schema import TaskStatus

        done, _, _ = incomplete.rpartition(",")
        given = f"{done}," if done else ""
        return ((given + status.value, "status") for status in TaskStatus)

    return _safely(find, incomplete)


def engines(incomplete: str) -> Offered:
    """Environment engines installed (from the entry points)."""

    def find() -> Iterable[tuple[str, str]]:
        from hipercow_core.environments import available_engines

        return ((name, "engine") for name in available_engines())

    return _safely(find, incomplete)


def queues(ctx: click.Context, incomplete: str) -> Offered:
    """Queues of the driver the command uses (`--driver`, else the configured one).

    Drivers keep their cluster description on disk (`cluster_info` may be a
    saved answer), so this is usually a file read; a driver that must ask a
    scheduler gets `QUEUE_WAIT` seconds, so a TAB never hangs on a cluster
    that does not answer.
    """

    def find() -> Iterable[tuple[str, str]]:
        import threading

        from hipercow_core.drivers.registry import get_driver
        from hipercow_core.root import Root

        root = Root.find()
        driver = ctx.params.get("driver")
        answer: list[tuple[str, str]] = []

        def ask() -> None:
            info = get_driver(root, driver if isinstance(driver, str) else None).cluster_info()
            for queue in info.queues:
                default = " (default)" if queue.name == info.default_queue else ""
                answer.append((queue.name, f"queue{default}"))

        worker = threading.Thread(target=ask, daemon=True)
        worker.start()
        worker.join(QUEUE_WAIT)
        return list(answer) if not worker.is_alive() else []

    return _safely(find, incomplete)


BASH_SCRIPT = """
%(complete_func)s() {
    local IFS=$'\\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \\
                   COMP_CWORD=$COMP_CWORD \\
                   %(autocomplete_var)s=complete_bash $1 ) )
    return 0
}

complete -o nosort -o default -F %(complete_func)s %(prog_name)s
"""
"""typer's bash script with `-o nosort` (bash 4.4+), so task ids stay newest first."""


def keep_our_order_in_bash() -> None:
    """Make `--install-completion` and `--show-completion` write `BASH_SCRIPT`.

    typer keeps its scripts in a private table (typer is pinned below 0.26,
    and a test reads the installed script back); bash would otherwise sort
    the ids we give newest first.
    """
    from typer import _completion_classes, _completion_shared

    _completion_shared._completion_scripts["bash"] = BASH_SCRIPT
    _completion_classes.BashComplete.source_template = BASH_SCRIPT
