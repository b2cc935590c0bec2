"""Text for people: the rows of a history table and the lines of a comparison.

Shared by the standalone `hipercow-provision` (plain text) and the `hipercow
environment` commands (rich tables), so both say the same things.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hipercow_core.schema import PackageInfo
from hipercow_provision.history import ChangeKind, Comparison, HistoryEntry, PackageChange
from hipercow_provision.inputs import describe

HISTORY_COLUMNS = ("#", "attempt", "status", "requested", "took", "build", "packages", "inputs")
COMPARE_ORDER: tuple[ChangeKind, ...] = ("added", "removed", "updated", "unchanged")


def show_time(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def took(entry: HistoryEntry) -> str:
    result = entry.result
    if result is None or result.started is None:
        return "-"
    seconds = (result.finished - result.started).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def history_row(entry: HistoryEntry) -> tuple[str, ...]:
    result = entry.result
    return (
        str(entry.number),
        entry.id,
        entry.status,
        show_time(entry.attempt.requested),
        took(entry),
        (result.build if result else None) or "-",
        # A failed attempt's list is what it left behind, not what it made: no count.
        str(len(result.packages)) if result and result.build and entry.status == "success" else "-",
        describe(entry.attempt.inputs),
    )


def history_rows(entries: Sequence[HistoryEntry]) -> list[tuple[str, ...]]:
    return [HISTORY_COLUMNS, *(history_row(e) for e in entries)]


def channel_name(source: str) -> str:
    """A conda channel as people name it: `conda-forge` for anaconda.org's, else its address."""
    for host in ("https://conda.anaconda.org/", "https://repo.anaconda.com/"):
        if source.startswith(host):
            return source.removeprefix(host).rstrip("/")
    return source.rstrip("/")


def version_text(change: PackageChange) -> tuple[str, str]:
    """Old and new versions, with a conda package's build, and the source when not the index.

    The build and the source are shown when they differ between the two, or
    for an added or removed package, so a rebuild or a move to another
    channel reads as such; a plain version bump shows only versions.
    """
    old, new = change.old, change.new

    def one(info: PackageInfo | None, other: PackageInfo | None) -> str:
        if info is None:
            return "-"
        text = info.version
        if info.build and (
            other is None or other.build != info.build or other.sha256 != info.sha256
        ):
            text += f" {info.build}"
        if info.source != "index" and (
            other is None or other.source != info.source or info.build is None
        ):
            text += f" ({channel_name(info.source) if info.build else info.source})"
        return text

    return one(old, new), one(new, old)


def comparison_lines(comparison: Comparison, show_unchanged: bool = False) -> list[str]:
    """`+ name 1.0`, `- name 1.0`, `~ name 1.0 -> 2.0`, then a count of what is unchanged."""
    lines = [f"Comparing attempt {comparison.a} -> {comparison.b}"]
    marks = {"added": "+", "removed": "-", "updated": "~", "unchanged": "="}
    for kind in COMPARE_ORDER:
        if kind == "unchanged" and not show_unchanged:
            continue
        for change in comparison.of_kind(kind):
            old, new = version_text(change)
            versions = {"added": new, "removed": old}.get(kind, f"{old} -> {new}")
            if kind == "unchanged":
                versions = new
            lines.append(f"{marks[kind]} {change.name} {versions}")
    counts = ", ".join(f"{len(comparison.of_kind(k))} {k}" for k in COMPARE_ORDER)
    lines.append(counts)
    return lines


def table(*rows: Sequence[str]) -> str:
    """Rows as aligned plain-text columns, the first row being the header."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in rows
    )
