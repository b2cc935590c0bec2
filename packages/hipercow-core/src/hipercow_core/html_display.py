"""HTML for notebooks: a task, a bundle and a result table, statuses in colour.

Jupyter calls `_repr_html_` on the last value of a cell; these return one
self-contained fragment (inline styles only, no scripts), so it shows the same
in JupyterLab, VS Code and an exported notebook. Long tables are cut to their
first rows, with a line saying how many more there are.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from hipercow_core.bundles import counts
from hipercow_core.schema import TaskStatus
from hipercow_core.store import file_statuses

if TYPE_CHECKING:
    from hipercow_core.bundle_handles import Bundle
    from hipercow_core.sweep_results import ResultTable
    from hipercow_core.task_handles import Task

#: Most rows a table shows; the rest are counted.
MAX_ROWS = 50

STATUS_COLOURS = {
    "created": "#0e7490",
    "submitted": "#1d4ed8",
    "running": "#b45309",
    "success": "#15803d",
    "failure": "#b91c1c",
    "cancelled": "#7e22ce",
    "missing": "#6b7280",
}

_TABLE = 'style="border-collapse: collapse; font-size: 0.9em"'
_CELL = 'style="padding: 2px 8px; text-align: left; border-bottom: 1px solid #ddd"'


def status_badge(status: str) -> str:
    """A status as a coloured label."""
    colour = STATUS_COLOURS.get(status, "#374151")
    return (
        f'<span style="color: white; background: {colour}; border-radius: 3px;'
        f' padding: 0 5px">{escape(status)}</span>'
    )


def counts_line(tally: dict[TaskStatus, int]) -> str:
    """`12 success 3 failure` with each status coloured."""
    return " ".join(f"{n} {status_badge(str(s))}" for s, n in tally.items()) or "no tasks"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return escape(value if isinstance(value, str) else repr(value))


def table(columns: list[str], rows: list[list[str]], total: int) -> str:
    """A table of already-escaped cells, with a note when rows were left out."""
    head = "".join(f"<th {_CELL}>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td {_CELL}>{c}</td>" for c in row) + "</tr>" for row in rows)
    more = f"<p><em>{total - len(rows)} more rows not shown</em></p>" if total > len(rows) else ""
    return f"<table {_TABLE}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def task_html(task: Task) -> str:
    """A task's id, status, command and times."""
    info = task.info()
    command = " ".join(info.data.command)
    rows = [
        ["id", escape(task.id)],
        ["status", status_badge(str(info.status))],
        ["kind", escape(info.data.kind)],
        ["command", f"<code>{escape(command)}</code>"],
        ["driver", _cell(info.driver)],
        ["waited", _cell(None if info.waited_seconds is None else f"{info.waited_seconds:.1f} s")],
        ["ran", _cell(None if info.ran_seconds is None else f"{info.ran_seconds:.1f} s")],
    ]
    if info.reason:
        rows.append(["reason", escape(info.reason)])
    body = "".join(
        f"<tr><th {_CELL}>{name}</th><td {_CELL}>{value}</td></tr>" for name, value in rows
    )
    return f"<div><strong>hipercow task</strong><table {_TABLE}>{body}</table></div>"


def bundle_html(bundle: Bundle) -> str:
    """A bundle's name and counts, then each task with its row of data and status."""
    record = bundle.record
    found = file_statuses(bundle.root, record.task_ids, follow=True)
    tally = counts(status for _, status in found.values())
    names = list(dict.fromkeys(k for row in record.data for k in row))
    data = list(record.data) + [{}] * (len(record.task_ids) - len(record.data))
    rows = []
    for (latest, status), values in list(zip(found.values(), data, strict=False))[:MAX_ROWS]:
        rows.append(
            [
                f"<code>{latest[:8]}</code>",
                *(_cell(values.get(n)) for n in names),
                status_badge(str(status)),
            ]
        )
    heading = (
        f"<p><strong>bundle {escape(bundle.name)}</strong>: {len(record.task_ids)} tasks,"
        f" {counts_line(tally)}</p>"
    )
    return f"<div>{heading}{table(['task', *names, 'status'], rows, len(record.task_ids))}</div>"


def results_html(results: ResultTable) -> str:
    """A sweep's result table, statuses coloured, with the counts above it."""
    columns = results.columns
    rows = []
    for row in results[:MAX_ROWS]:
        cells = []
        for column in columns:
            value = row.get(column)
            if column == "status":
                cells.append(status_badge(str(value)))
            elif column == "task":
                cells.append(f"<code>{escape(str(value))[:8]}</code>")
            else:
                cells.append(_cell(value))
        rows.append(cells)
    tally = {TaskStatus(s): n for s, n in results.counts().items()}
    name = f" of bundle {escape(results.bundle)}" if results.bundle else ""
    heading = f"<p><strong>results{name}</strong>: {len(results)} tasks, {counts_line(tally)}</p>"
    return f"<div>{heading}{table(columns, rows, len(results))}</div>"
