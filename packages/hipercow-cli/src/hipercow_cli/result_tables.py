"""A sweep's result table on stdout: aligned for reading, or CSV, TSV or JSON lines for tools.

The rows come from `hipercow_core.sweep_results`; this only writes them.
Missing cells are empty; values that are lists or dicts are written as JSON
(so a spreadsheet or pandas reads them back), floats as Python writes them.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from hipercow_cli import output
from hipercow_core.sweep_results import STATUS, ResultTable


def cell_text(value: Any) -> str:
    """One cell as text: empty for None, JSON for containers, else as Python writes it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(json_safe(value))
    return str(value)


def json_safe(value: Any) -> Any:
    """Plain data JSON can hold: non-finite floats as text, anything else not plain as its repr."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return repr(value)


def render_results(rows: ResultTable, table_format: str) -> None:
    """Write the rows in `table_format`: table, csv, tsv or jsonl."""
    columns = rows.columns
    if table_format == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps({c: json_safe(row.get(c)) for c in columns}) + "\n")
        return
    if table_format in ("csv", "tsv"):
        write_delimited(rows, columns, "," if table_format == "csv" else "\t")
        return
    shown = output.table(*columns)
    for row in rows:
        shown.add_row(*(_table_cell(c, row.get(c)) for c in columns))
    output.print_table(shown)


def write_delimited(rows: ResultTable, columns: Sequence[str], delimiter: str) -> None:
    writer = csv.writer(sys.stdout, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell_text(row.get(c)) for c in columns])


_STYLES = {"success": "green", "failure": "red", "cancelled": "magenta", "running": "yellow"}


def _table_cell(column: str, value: Any) -> str:
    from rich.markup import escape

    text = escape(cell_text(value))
    if column == STATUS:
        return output.styled(text, _STYLES.get(str(value)))
    return text
