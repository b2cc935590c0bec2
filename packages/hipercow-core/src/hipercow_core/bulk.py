"""Bulk creation: a command template with `@name` placeholders, and data to fill it.

Data comes as a CSV file (one task per row), `x=1..10` (inclusive), `x=1:10`
(end excluded), `x=0.1..0.5:0.1` (inclusive, by a step), `x=1e-3..1e3:log7`
(seven values evenly spaced on a log scale, both ends included), or
`x=a,b,c`. Steps are decimal, so 0.1 steps give 0.3, not 0.30000000000000004.
Anything that looks like a numeric range but is not a valid one is refused,
never taken as one literal value. Several data sources combine as an outer
product, or pair up row by row with `zip`. The names in the template must be
exactly the names in the data, so a typo is caught before anything is made.
`@@` is a literal `@` (`user@@example.com`, `pkg@@1.2`, `git@@host`).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import overload

from hipercow_core.errors import InvalidInputError

#: `@name`, or `@@` (group 1 empty), which stands for a literal `@`.
_PLACEHOLDER = re.compile(r"@@|@([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INCLUSIVE = re.compile(r"(-?\d+)\.\.(-?\d+)")
_EXCLUSIVE = re.compile(r"(-?\d+):(-?\d+)")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_STEPPED = re.compile(rf"({_NUMBER})\.\.({_NUMBER}):({_NUMBER})")
_LOG_SPACED = re.compile(rf"({_NUMBER})\.\.({_NUMBER}):log(\d+)")
_RANGE_LIKE = re.compile(rf"{_NUMBER}\.\.{_NUMBER}(:.*)?")
_RANGE_HELP = (
    "Use x=1..10 (whole numbers), x=0.1..0.5:0.1 (by a step) or x=1e-3..1e3:log7"
    " (log-spaced); put a literal value like this in a CSV file."
)
MAX_RANGE = 1_000_000
# The number of tasks one bulk creation makes unless raised: counted before
# anything is built, so a typo such as 1..99999999999 is refused at once.
DEFAULT_MAX_TASKS = 100_000
_MAX_CSV_BYTES = 100_000_000

Row = dict[str, str]


class _Span(Sequence[str]):
    """The integers low, low+1, ..., high-1 as text, made only when read."""

    def __init__(self, low: int, high: int) -> None:
        self._range = range(low, high)

    def __len__(self) -> int:
        return len(self._range)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [str(i) for i in self._range[index]]
        return str(self._range[index])


class Table:
    """Named columns of equal length: the rows of one data source, or of several combined.

    Rows are produced only when read, and counted without being made, so a
    huge request is refused before any memory is spent on it.
    """

    def __init__(
        self,
        names: Sequence[str],
        rows: Sequence[Sequence[str]] = (),
        *,
        parts: Sequence[Table] = (),
        zip_rows: bool = False,
        column: Sequence[str] | None = None,
    ) -> None:
        self.names = tuple(names)
        self._rows = [tuple(r) for r in rows]
        self._parts = tuple(parts)
        self._zip = zip_rows
        self._column = column

    def __len__(self) -> int:
        if self._column is not None:
            return len(self._column)
        if self._parts:
            lengths = [len(p) for p in self._parts]
            return min(lengths) if self._zip else math.prod(lengths)
        return len(self._rows)

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        if self._column is not None:
            return ((v,) for v in self._column)
        if self._parts:
            if self._zip:
                return (sum(p, ()) for p in zip(*self._parts, strict=True))
            return (sum(p, ()) for p in itertools.product(*self._parts))
        return iter(self._rows)

    @property
    def rows(self) -> list[tuple[str, ...]]:
        return list(self)

    def row(self, index: int) -> tuple[str, ...]:
        """Row `index` (0 <= index < len), computed without making the rows before it."""
        if self._column is not None:
            return (self._column[index],)
        if not self._parts:
            return self._rows[index]
        if self._zip:
            return sum((p.row(index) for p in self._parts), ())
        picked: list[tuple[str, ...]] = []
        for part in reversed(self._parts):
            index, within = divmod(index, len(part))
            picked.append(part.row(within))
        return sum(reversed(picked), ())


def parse_data(spec: str, cwd: Path | None = None) -> Table:
    """One `--data` value: `name=values` or the path of a CSV file."""
    name, sep, values = spec.partition("=")
    if sep and _NAME.fullmatch(name.strip()):
        return Table([name.strip()], column=_values(name.strip(), values.strip()))
    path = Path(spec) if cwd is None or Path(spec).is_absolute() else cwd / spec
    if path.is_file():
        return _read_csv(path)
    raise InvalidInputError(
        f"--data '{spec}' is neither name=values nor an existing CSV file",
        "Use x=1..10 (inclusive), x=1:10 (end excluded), x=0.1..0.5:0.1, x=1e-3..1e3:log7,"
        " x=a,b,c, or the path of a CSV file.",
    )


def _decimal_text(value: Decimal) -> str:
    """A decimal as people write it: 0.1, 10, 0.001 (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "+0") else text


def _stepped(name: str, text: str, low: Decimal, high: Decimal, step: Decimal) -> list[str]:
    if step == 0 or (high - low) * step < 0:
        raise InvalidInputError(
            f"--data {name}={text}: a step of {step} never gets from {low} to {high}",
            "Give a step with the sign of the range, e.g. x=0.1..0.5:0.1 or x=5..1:-1.",
        )
    count = int((high - low) / step) + 1
    if count > MAX_RANGE:
        raise InvalidInputError(f"--data {name}={text} gives {count} values", "Use a larger step.")
    return [_decimal_text(low + i * step) for i in range(count)]


def _log_spaced(name: str, text: str, low: float, high: float, count: int) -> list[str]:
    if low <= 0 or high <= 0 or count < 2 or count > MAX_RANGE:
        raise InvalidInputError(
            f"--data {name}={text}: log-spaced values need two positive ends and 2 or more values",
            "For example x=0.001..1000:log7 gives 0.001, 0.01, ..., 1000.",
        )
    ratio = math.log(high / low) / (count - 1)
    return [f"{low * math.exp(ratio * i):.6g}" for i in range(count)]


def _numeric_range(name: str, text: str) -> Sequence[str] | None:
    """The values of a numeric range, None if the text is not one; a broken range raises.

    Whole-number ranges are made only when read, so a huge one is counted
    (and refused) before any memory is spent on it.
    """
    if match := _INCLUSIVE.fullmatch(text):
        return _Span(int(match[1]), int(match[2]) + 1)
    if match := _EXCLUSIVE.fullmatch(text):
        return _Span(int(match[1]), int(match[2]))
    if match := _STEPPED.fullmatch(text):
        start, end, step = (Decimal(match[i]) for i in (1, 2, 3))
        return _stepped(name, text, start, end, step)
    if match := _LOG_SPACED.fullmatch(text):
        return _log_spaced(name, text, float(match[1]), float(match[2]), int(match[3]))
    if _RANGE_LIKE.fullmatch(text):
        raise InvalidInputError(f"--data {name}={text} is not a range hipercow knows", _RANGE_HELP)
    return None


def _values(name: str, text: str) -> Sequence[str]:
    values = _numeric_range(name, text)
    if values is None and ".." in text:
        raise InvalidInputError(f"--data {name}={text} is not a range hipercow knows", _RANGE_HELP)
    if values is None:
        values = [v.strip() for v in text.split(",")] if text else []
        if any(not v for v in values):
            raise InvalidInputError(
                f"--data {name}={text} has an empty value",
                "List values separated by single commas: x=a,b,c.",
            )
    if not values:
        raise InvalidInputError(
            f"--data {name}={text} gives no values", "Check the range: x=1..10 includes both ends."
        )
    return values


def _read_csv(path: Path) -> Table:
    if path.stat().st_size > _MAX_CSV_BYTES:
        raise InvalidInputError(
            f"CSV file '{path}' is over {_MAX_CSV_BYTES // 1_000_000} MB",
            "Split the data into several bulk creations.",
        )
    raw = path.read_bytes()
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
        text = raw.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError:
        # Excel's plain "CSV (Comma delimited)" is in the Windows code page.
        raise InvalidInputError(
            f"CSV file '{path}' is not UTF-8 text (Excel's 'CSV (Comma delimited)' is not)",
            "Save it as UTF-8: in Excel, choose 'CSV UTF-8 (Comma delimited)'.",
        ) from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as e:
        raise InvalidInputError(
            f"'{path}' is not a CSV text file ({e.__class__.__name__}: {str(e)[:80]})",
            "Give a UTF-8 CSV file: a header line of names, then one row per task.",
        ) from None
    if not header or not rows:
        raise InvalidInputError(
            f"CSV file '{path}' has no rows", "Give a header line of names, then one row per task."
        )
    names = [h.strip() for h in header]
    bad = [n for n in names if not _NAME.fullmatch(n)]
    if bad:
        raise InvalidInputError(
            f"CSV column name '{bad[0]}' in '{path}' cannot be a template name",
            "Column names must be letters, digits and '_', not starting with a digit.",
        )
    for number, row in enumerate(rows, start=2):
        if len(row) != len(names):
            raise InvalidInputError(
                f"line {number} of '{path}' has {len(row)} values for {len(names)} columns",
                "Every row needs one value per column.",
            )
    return Table(names, rows)


def combine(
    tables: Sequence[Table], *, zip_rows: bool = False, max_tasks: int | None = DEFAULT_MAX_TASKS
) -> Table:
    """Outer product of the tables (or, with zip, rows paired up in order).

    The rows are counted, not made; more than `max_tasks` is refused (None:
    no limit, for a preview, which reads only the first rows).
    """
    names = [n for t in tables for n in t.names]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise InvalidInputError(
            f"data name '{sorted(duplicated)[0]}' is given more than once", "Name each data once."
        )
    if zip_rows:
        lengths = {len(t) for t in tables}
        if len(lengths) > 1:
            raise InvalidInputError(
                f"--zip needs data of equal lengths, got {', '.join(str(len(t)) for t in tables)}",
                "Give the same number of values to each --data, or drop --zip for every combination.",
            )
    table = Table(names, parts=tables, zip_rows=zip_rows)
    if max_tasks is not None:
        check_count(len(table), max_tasks)
    return table


def check_count(count: int, max_tasks: int) -> None:
    """Refuse a bulk creation of more than `max_tasks` tasks, before any is built."""
    if count > max_tasks:
        raise InvalidInputError(
            f"the data make {count:,} tasks, more than the limit of {max_tasks:,}",
            "Check the ranges; to make that many, raise the limit with --max-tasks.",
        )


def repeat(data: Table, times: int) -> Table:
    """Each row `times` times in a row, for identical tasks (e.g. stochastic runs)."""
    if times < 1:
        raise InvalidInputError(f"--repeat {times} makes no tasks", "Give --repeat 1 or more.")
    return Table(data.names, [row for row in data.rows for _ in range(times)])


def no_data() -> Table:
    """One row with no names: the data of a command that has no placeholders."""
    return Table([], [()])


def template_names(template: Sequence[str]) -> set[str]:
    return {m for arg in template for m in _PLACEHOLDER.findall(arg) if m}


def check_names(template_uses: set[str], data: Table) -> None:
    """The template's placeholders must be exactly the data's names."""
    given = set(data.names)
    missing = sorted(template_uses - given)
    unused = sorted(given - template_uses)
    if missing:
        raise InvalidInputError(
            f"the template uses @{', @'.join(missing)} but no data gives {'it' if len(missing) == 1 else 'them'}",
            "Add --data for each placeholder, or fix its spelling; "
            "write @@ for a literal @ (user@@example.com).",
        )
    if unused:
        raise InvalidInputError(
            f"the data gives {', '.join(unused)} but the template never uses @{', @'.join(unused)}",
            "Use every data name in the template, or drop that --data.",
        )


def rows(data: Table) -> Iterator[Row]:
    for values in data:
        yield dict(zip(data.names, values, strict=True))


def preview_rows(data: Table, edge: int) -> tuple[list[Row], list[Row]]:
    """The first and last `edge` rows (all rows, and no last ones, when there are few)."""
    count = len(data)
    if count <= 2 * edge + 1:
        return list(rows(data)), []
    first = [dict(zip(data.names, data.row(i), strict=True)) for i in range(edge)]
    last = [dict(zip(data.names, data.row(i), strict=True)) for i in range(count - edge, count)]
    return first, last


def expand(template: Sequence[str], row: Row) -> tuple[str, ...]:
    """The template's arguments with each `@name` replaced by its value in the row, `@@` by `@`.

    Values are inserted as they are: an `@` in a value is never read again.
    """
    return tuple(_PLACEHOLDER.sub(lambda m: row[m[1]] if m[1] else "@", arg) for arg in template)


def bulk_commands(template: Sequence[str], data: Table) -> list[tuple[str, ...]]:
    """One command per row of data, after checking the template and the data agree on names."""
    check_names(template_names(template), data)
    return [expand(template, row) for row in rows(data)]


def read_data(
    specs: Sequence[str],
    cwd: Path | None = None,
    *,
    zip_rows: bool = False,
    times: int | None = None,
    max_tasks: int | None = DEFAULT_MAX_TASKS,
) -> Table:
    """The data of a bulk command: each `--data` parsed, combined (or zipped) into rows,
    each row made `times` times (`--repeat`; without data, that many copies of one task).

    The rows are counted before any is made: more than `max_tasks` is refused.
    """
    if not specs and times is None:
        raise InvalidInputError(
            "no --data given",
            "Give data such as --data x=1..10 or --data file.csv, or --repeat N for N copies.",
        )
    table = (
        combine([parse_data(s, cwd) for s in specs], zip_rows=zip_rows, max_tasks=max_tasks)
        if specs
        else no_data()
    )
    copies = 1 if times is None else times
    if max_tasks is not None:
        check_count(len(table) * copies, max_tasks)
    return table if copies == 1 else repeat(table, copies)


def shown_rows(data: Table, times: int | None = None) -> list[Row]:
    """Each task's data values as a bundle keeps them; repeated tasks also get a `copy` number."""
    found = list(rows(data))
    if times is not None and times > 1:
        found = [{**row, "copy": str(i % times + 1)} for i, row in enumerate(found)]
    return found


def row_labels(
    name_template: str | None, data: Table, shown: Sequence[Row], tags: Mapping[str, str]
) -> list[tuple[str | None, dict[str, str]]]:
    """Each task's name (the template filled from its row, like the command) and tags.

    A row's data values become its task's tags automatically (with `copy` for
    `--repeat`), so `task list --tag n=3` finds the run with n=3; tags given
    with `--tag` come on top.
    """
    table_rows = list(rows(data))
    missing = sorted(template_names([name_template or ""]) - set(data.names))
    if missing:
        raise InvalidInputError(
            f"--task-name uses @{', @'.join(missing)} but no data gives it",
            "Use only the names given with --data; write @@ for a literal @.",
        )
    names = [
        expand([name_template], row)[0] if name_template is not None else None for row in table_rows
    ]
    return [(n, {**row, **tags}) for n, row in zip(names, shown, strict=True)]
