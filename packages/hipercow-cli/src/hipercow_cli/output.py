"""How the CLI shows things: plain, colour when a person is watching, JSON on request.

Plain text goes through `sys.stdout` directly, since quick commands should not
pay for importing rich; rich is loaded only for tables and spinners.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


_STATUS_COLOURS = {
    "created": "36",
    "submitted": "34",
    "running": "33",
    "success": "32",
    "failure": "31",
    "cancelled": "35",
    "missing": "90",
    "unreadable": "91",
}


def colour_enabled(stream: Any = None) -> bool:
    """Colour for a person at a terminal that draws ANSI codes (not a legacy Windows console)."""
    stream = stream or sys.stdout
    if not stream.isatty() or "NO_COLOR" in os.environ:
        return False
    from hipercow_core.consoles import ansi_console

    return ansi_console(stream)


def speaks_unicode(stream: Any = None) -> bool:
    """Whether `stream` can carry marks like ✔: a UTF-8 terminal or pipe, not cp1252."""
    import codecs

    encoding = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def mark(fancy: str, plain: str, stream: Any = None) -> str:
    """`fancy` where the stream can encode it, else `plain` (a Windows console or pipe)."""
    return fancy if speaks_unicode(stream) else plain


def never_fail_on_encoding() -> None:
    """Make unencodable output come out as `?` rather than stop a command that did its work.

    A Windows console or pipe is cp1252: a task log or a name with characters
    beyond it must still print.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


@functools.lru_cache(maxsize=4)
def _coloured(stream: Any) -> bool:
    """`colour_enabled` once per stream, since a listing colours thousands of statuses."""
    return colour_enabled(stream)


def status_text(status: str) -> str:
    code = _STATUS_COLOURS.get(status)
    if code and _coloured(sys.stdout):
        return f"\x1b[{code}m{status}\x1b[0m"
    return status


def emit_json(value: Any) -> None:
    """Write any msgspec-encodable value as indented JSON on stdout."""
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(value), indent=2) + b"\n")
    sys.stdout.flush()


def emit_json_value(value: Any) -> None:
    """A task's result as JSON; nan and infinities become strings, which JSON cannot hold."""
    import json
    import math

    def plain(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    try:
        text = json.dumps(plain(value), indent=2, allow_nan=False)
    except TypeError:
        from hipercow_core.errors import InvalidInputError

        raise InvalidInputError(
            f"the result is a {type(value).__name__}, which has no JSON form",
            "Read it without --json, or from Python with hipercow_core.task_result.",
        ) from None
    out(text)


def show_value(value: Any) -> str:
    """A result for a person: strings as they are, anything else as Python shows it."""
    if isinstance(value, str):
        return value
    import pprint

    return pprint.pformat(value, sort_dicts=False)


# Results larger than this (as stored) are summarised on a terminal, not printed whole.
LARGE_RESULT_BYTES = 1_000_000


def summarise_value(value: Any, stored_bytes: int) -> str:
    """Type, size and the start of a large value: printing 200 MB helps nobody."""
    import reprlib

    shown = reprlib.Repr()
    shown.maxlevel, shown.maxlist, shown.maxdict = 2, 5, 5
    shown.maxstring = shown.maxother = 60
    length = f", {len(value):,} items" if hasattr(value, "__len__") else ""
    return (
        f"{type(value).__name__}{length} ({stored_bytes / 1e6:.1f} MB stored): "
        f"{shown.repr(value)}\n"
        "Write it whole with --output FILE."
    )


def summarise_head(kind: str, stored_bytes: int, head: str) -> str:
    """A large JSON result by its first characters, without reading the rest."""
    return (
        f"{kind} ({stored_bytes / 1e6:.1f} MB stored as JSON), starting: {head}...\n"
        "Write it whole with --output FILE."
    )


def write_value(value: Any, path: str, as_json: bool) -> None:
    """A result written whole to a file: text as it is, else JSON (or its repr, without one)."""
    import json

    if isinstance(value, str) and not as_json:
        data = value
    else:
        try:
            data = json.dumps(value)
        except (TypeError, ValueError):
            data = repr(value)
    from hipercow_core.fsutil import writing

    with writing(path), open(path, "w", encoding="utf-8") as f:
        f.write(data)


def success(text: str) -> None:
    tick = mark("✔", "+")
    out(f"{_paint(tick, '32') if colour_enabled() else tick} {text}")


def warn(text: str) -> None:
    err(f"{_paint('!', '33') if colour_enabled(sys.stderr) else '!'} {text}")


def failed(text: str) -> None:
    """A check that did not pass, on stdout beside the ones that did (`success`)."""
    cross = mark("✖", "x")
    out(f"{_paint(cross, '31') if colour_enabled() else cross} {text}")


def _paint(text: str, code: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m"


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def table(*columns: str) -> Table:
    from rich.table import Table

    result = Table(box=None, pad_edge=False, show_edge=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    return result


def print_table(value: Table) -> None:
    """A table on stdout; piped, it keeps whole lines rather than folding to 80 columns."""
    if sys.stdout.isatty():
        console().print(value)
        return
    from rich.console import Console

    Console(highlight=False, soft_wrap=False, width=400, no_color=True).print(value)


def styled(text: str, style: str | None) -> str:
    """Text in a rich style (e.g. "green") inside a table cell; unstyled when `style` is None."""
    return f"[{style}]{text}[/{style}]" if style else text


@contextmanager
def spinner(message: str) -> Iterator[Any]:
    """A spinner on stderr while a person watches; nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    with console(stderr=True).status(message) as status:
        yield status


@contextmanager
def progress(label: str, total: int) -> Iterator[Callable[[int, str, bool], None]]:
    """A progress bar with a status line on stderr; silent when nobody watches.

    The finished part is green while every finished task succeeded and red
    once one has not, so the colour answers "is it going well?" at a glance.
    """
    if not sys.stderr.isatty():
        yield lambda done, text, failed: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, Task, TextColumn
    from rich.progress_bar import ProgressBar

    class OutcomeBar(BarColumn):
        def render(self, task: Task) -> ProgressBar:
            self.complete_style = self.finished_style = (
                "red" if task.fields.get("failed") else "green"
            )
            return super().render(task)

    with Progress(
        TextColumn("{task.description}"),
        OutcomeBar(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total, counts="", failed=False)
        yield lambda done, text, failed: bar.update(
            task, completed=done, counts=text, failed=failed
        )


@functools.lru_cache(maxsize=4096)
def show_time(value: datetime | None) -> str:
    """Local time to the second; cached, since tasks made together share a time."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def show_duration(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def show_seconds(value: float | None) -> str:
    return show_duration(None if value is None else timedelta(seconds=value))


def count(n: int, noun: str) -> str:
    """'1 task', '2 tasks': a count with its noun agreeing."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def show_age(value: datetime, now: datetime | None = None) -> str:
    """How long ago, in its largest whole unit (40s, 12m, 5h, 3d): enough to judge by eye."""
    seconds = max(0, int(((now or datetime.now(value.tzinfo)) - value).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def show_command(command: Sequence[str]) -> str:
    import shlex

    return shlex.join(command)
