"""A sweep's results as one table: a row per task with its inputs, status, value, error and usage.

Behind `hipercow bundle result NAME --format ...` and `Bundle.results()`.
Each row starts with the task's id and the bundle's row of data for it (the
inputs), then its status; a value that is a dict with text keys gives a
column per key (named `value.KEY` where a key would hide another column),
any other value one `value` column; then the error message, the run time
in seconds, and CPU time and peak memory once the runner records them.
Tasks are followed to their latest retry, so a retried failure shows how
the retry went.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hipercow_core.bundles import load_bundle
from hipercow_core.errors import HipercowError, InvalidInputError
from hipercow_core.pytasks import TaskFailedError, task_result
from hipercow_core.root import Root
from hipercow_core.schema import FinishedMarker, TaskStatus
from hipercow_core.store import read_markers, read_task_data
from hipercow_core.tasks import followed_statuses

#: Columns every row has, whatever the sweep.
TASK, STATUS, VALUE, ERROR, RUNTIME = "task", "status", "value", "error", "runtime"
#: Usage columns, present only when some task of the sweep recorded them.
CPU_TIME, PEAK_MEMORY = "cpu_time", "peak_memory"
_FIXED = {TASK, STATUS, ERROR, RUNTIME, CPU_TIME, PEAK_MEMORY}
#: What a shell command "returns": it has no value column at all.
_NO_VALUE = object()


class ResultTable(list[dict[str, Any]]):
    """A list of dicts, one per task, that shows itself as a table in a notebook.

    `to_frame()` gives a pandas DataFrame; pandas is imported only then.
    """

    def __init__(
        self,
        rows: Iterable[dict[str, Any]] = (),
        *,
        bundle: str | None = None,
        inputs: Sequence[str] = (),
    ) -> None:
        super().__init__(rows)
        self.bundle = bundle
        self.inputs = tuple(inputs)

    @property
    def columns(self) -> list[str]:
        """Every column: the id, the inputs, the status, the value's, then error, runtime, usage."""
        found = list(dict.fromkeys(key for row in self for key in row))
        inputs = set(self.inputs)
        rank = {TASK: 0, STATUS: 2, ERROR: 4, RUNTIME: 5, CPU_TIME: 6, PEAK_MEMORY: 7}
        return sorted(found, key=lambda c: rank.get(c, 1 if c in inputs else 3))

    def counts(self) -> dict[str, int]:
        """How many rows have each status."""
        found: dict[str, int] = {}
        for row in self:
            found[str(row[STATUS])] = found.get(str(row[STATUS]), 0) + 1
        return found

    def to_frame(self) -> Any:
        """The table as a pandas DataFrame (one row per task, columns as in `columns`)."""
        try:
            import pandas
        except ImportError:
            raise InvalidInputError(
                "pandas is not installed",
                "Install it (pip install pandas), or use the rows as dicts.",
            ) from None
        return pandas.DataFrame(list(self), columns=self.columns)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items()) or "no tasks"
        name = f" of bundle {self.bundle}" if self.bundle else ""
        return f"<ResultTable{name}: {len(self)} rows ({counts}), {len(self.columns)} columns>"

    def _repr_html_(self) -> str:
        from hipercow_core.html_display import results_html

        return results_html(self)


def bundle_results(root: Root, name: str, *, follow: bool = True) -> ResultTable:
    """One row per task of the bundle, in the bundle's order (see the module's description)."""
    bundle = load_bundle(root, name)
    found = followed_statuses(root, list(bundle.task_ids), follow=follow)
    inputs = list(bundle.data) + [{}] * (len(bundle.task_ids) - len(bundle.data))
    rows = [
        result_row(root, latest, status, row)
        for (latest, status), row in zip(found.values(), inputs, strict=False)
    ]
    if any(CPU_TIME in r or PEAK_MEMORY in r for r in rows):
        for r in rows:
            r.setdefault(CPU_TIME, None)
            r.setdefault(PEAK_MEMORY, None)
    names = dict.fromkeys(k for row in bundle.data for k in row)
    return ResultTable(rows, bundle=name, inputs=list(names))


def result_row(
    root: Root, task_id: str, status: TaskStatus, inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """The row of one task: id, inputs, status, value column(s), error, runtime, usage."""
    row: dict[str, Any] = {TASK: task_id}
    row.update({k: v for k, v in inputs.items() if k not in (TASK, STATUS)})
    row[STATUS] = str(status)
    value, error = _outcome(root, task_id, status)
    taken = set(row) | _FIXED
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        for key, item in value.items():
            row[f"{VALUE}.{key}" if key in taken else key] = item
    elif status == TaskStatus.SUCCESS and value is not _NO_VALUE:
        row[VALUE] = value
    row[ERROR] = error
    markers = read_markers(root, task_id)
    started = markers.running.time if markers.running else None
    finished = markers.finished
    row[RUNTIME] = (finished.time - started).total_seconds() if finished and started else None
    row.update(usage(finished))
    return row


def usage(finished: FinishedMarker | None) -> dict[str, Any]:
    """CPU seconds and peak memory (bytes) if the runner recorded them in `finished.json`."""
    if finished is None:
        return {}
    found = {
        CPU_TIME: getattr(finished, "cpu_seconds", None),
        PEAK_MEMORY: getattr(finished, "peak_memory_bytes", None),
    }
    return {k: v for k, v in found.items() if v is not None}


def _outcome(root: Root, task_id: str, status: TaskStatus) -> tuple[Any, str | None]:
    """(value, error message) of a task: its value if it succeeded, else why not."""
    if status == TaskStatus.SUCCESS:
        if read_task_data(root, task_id).kind == "shell":
            return _NO_VALUE, None
        try:
            return task_result(root, task_id), None
        except HipercowError as e:
            return None, e.message
    if status == TaskStatus.FAILURE:
        try:
            task_result(root, task_id)
        except TaskFailedError as e:
            return None, f"{e.error_type}: {e.error_message}"
        except HipercowError:
            pass
        finished = read_markers(root, task_id).finished
        if finished is not None and finished.reason:
            return None, finished.reason
        if finished is not None and finished.exit_code is not None:
            return None, f"exit code {finished.exit_code}"
        return None, "failed"
    if status == TaskStatus.CANCELLED:
        return None, "cancelled"
    if status == TaskStatus.MISSING:
        return None, "missing"
    return None, None
