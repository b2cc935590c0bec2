"""`Bundle`, `create_bulk` and `bulk_call`: sweeps from Python, as `hipercow bulk`/`bundle` are.

A `Bundle` handle is a root and a name, like a `Task`; its operations are
those of `bundle_tasks` (each following tasks to their latest retry), and
`results()` gives the sweep as one table (`sweep_results`). `create_bulk`
fills a command template from data; `bulk_call` calls one function once
per row of keyword arguments; both make one bundle in one submission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hipercow_core import bulk
from hipercow_core.bundle_tasks import (
    bundle_task_ids,
    cancel_bundle,
    create_bundle,
    retry_bundle,
    wait_bundle,
)
from hipercow_core.bundles import counts, load_bundle
from hipercow_core.errors import InvalidInputError
from hipercow_core.function_calls import FunctionTarget, call_specs, shown_value
from hipercow_core.pytasks import DEFAULT_MAX_ARGS_SIZE
from hipercow_core.resources import parse_resources
from hipercow_core.root import Root
from hipercow_core.schema import Bundle as BundleRecord
from hipercow_core.schema import DataValue, Resources, TaskStatus
from hipercow_core.store import file_statuses
from hipercow_core.sweep_results import ResultTable, bundle_results
from hipercow_core.task_handles import Task, as_root
from hipercow_core.tasks import TaskSpec, tasks_status

#: Data for `create_bulk`: rows of values, or per name its values (every combination).
BulkData = Sequence[Mapping[str, Any]] | Mapping[str, str | Iterable[Any]]


class Bundle:
    """A bundle of tasks made together: counts, waiting, retries, cancelling and results."""

    __slots__ = ("name", "root")

    def __init__(self, root: Root | str | Path | None, name: str) -> None:
        self.root = as_root(root)
        self.name = load_bundle(self.root, name).name

    def __reduce__(self) -> tuple[Any, ...]:
        return (Bundle, (str(self.root.project), self.name))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Bundle)
            and other.name == self.name
            and other.root.project == self.root.project
        )

    def __hash__(self) -> int:
        return hash((self.name, str(self.root.project)))

    def __repr__(self) -> str:
        record = self.record
        found = file_statuses(self.root, record.task_ids, follow=True)
        tally = counts(status for _, status in found.values())
        shown = ", ".join(f"{n} {s}" for s, n in tally.items()) or "no tasks"
        return f"<Bundle {self.name}: {len(record.task_ids)} tasks ({shown})>"

    def _repr_html_(self) -> str:
        from hipercow_core.html_display import bundle_html

        return bundle_html(self)

    @property
    def record(self) -> BundleRecord:
        """The bundle as stored: task ids, command and each task's row of data."""
        return load_bundle(self.root, self.name)

    def tasks(self, *, follow: bool = True) -> list[Task]:
        """Its tasks in order, each its latest retry unless `follow=False`."""
        return [Task(self.root, t) for t in bundle_task_ids(self.root, self.name, follow=follow)]

    def statuses(self) -> dict[str, TaskStatus]:
        """Each (latest) task's status, asking the scheduler about active ones in one call."""
        return tasks_status(self.root, bundle_task_ids(self.root, self.name))

    def counts(self) -> dict[TaskStatus, int]:
        """How many of its (latest) tasks have each status."""
        return counts(self.statuses().values())

    def done(self) -> bool:
        """Whether every task has finished."""
        return all(s.is_terminal for s in self.statuses().values())

    def wait(
        self,
        timeout: float | None = None,
        *,
        fail_early: bool = False,
        progress: Callable[[dict[TaskStatus, int]], None] | None = None,
    ) -> dict[TaskStatus, int]:
        """Wait for every task (or the first that fails, with `fail_early`); the final counts.

        `progress` is called with the counts after every poll, e.g. to update a
        progress bar in a notebook.
        """
        on_poll = None
        if progress is not None:
            report = progress

            def on_poll(statuses: dict[str, TaskStatus]) -> None:
                report(counts(statuses.values()))

        final = wait_bundle(
            self.root, self.name, timeout=timeout, fail_early=fail_early, on_poll=on_poll
        )
        return counts(final.values())

    def retry(self, statuses: Iterable[TaskStatus | str] | None = None) -> dict[str, str]:
        """Retry finished tasks (by default those that failed or were cancelled); {old: new id}."""
        chosen = None if statuses is None else [TaskStatus(s) for s in statuses]
        return retry_bundle(self.root, self.name, statuses=chosen)

    def cancel(self) -> dict[str, bool]:
        """Cancel every unfinished task; {task: whether this call cancelled it}."""
        return cancel_bundle(self.root, self.name)

    def results(self, *, follow: bool = True) -> ResultTable:
        """The sweep as a list of dicts: inputs, status, value, error, runtime per task."""
        return bundle_results(self.root, self.name, follow=follow)


def create_bulk(
    root: Root | str | Path | None,
    template: Sequence[str],
    data: BulkData,
    *,
    name: str | None = None,
    zip_rows: bool = False,
    resources: Resources | None = None,
    environment: str | None = None,
    envvars: Mapping[str, str] | None = None,
    depends_on: Sequence[str] = (),
    driver: str | None = None,
    submit: bool = True,
    **resource_options: Any,
) -> Bundle:
    """One shell task per row of data, `@name` in the template filled from the row.

    `data` is a list of rows (dicts with the same keys), or a dict giving for
    each name its values: a list, or text as `--data` takes it (`"1..10"`,
    `"a,b"`); several names make every combination, or pair up with
    `zip_rows=True`. The template's names must be exactly the data's.
    """
    where = as_root(root)
    table, rows = _table(data, zip_rows)
    commands = bulk.bulk_commands(template, table)
    options = _task_options(resources, environment, envvars, depends_on, resource_options)
    specs = [TaskSpec(command=c, **options) for c in commands]
    record = create_bundle(
        where,
        specs,
        name=name,
        command=tuple(template),
        driver=driver,
        submit=submit,
        data=rows,
    )
    return Bundle(where, record.name)


def bulk_call(
    root: Root | str | Path | None,
    function: str | Callable[..., Any],
    rows: Iterable[Mapping[str, Any]],
    *,
    name: str | None = None,
    resources: Resources | None = None,
    environment: str | None = None,
    envvars: Mapping[str, str] | None = None,
    depends_on: Sequence[str] = (),
    driver: str | None = None,
    submit: bool = True,
    max_args_size: int = DEFAULT_MAX_ARGS_SIZE,
    **resource_options: Any,
) -> Bundle:
    """Call `function` once per row, the row's names as keyword arguments, as one bundle.

    `function` is `'module:function'` or the function itself (one defined in
    a notebook or `__main__` travels by value). Each row is kept in the bundle
    as the inputs of its task's row of `results()`.
    """
    where = as_root(root)
    calls = [dict(row) for row in rows]
    if not calls:
        raise InvalidInputError("no rows given", "Give one dict of keyword arguments per task.")
    target = FunctionTarget(where, function, cwd=Path.cwd(), environment=environment)
    options = _task_options(resources, environment, envvars, depends_on, resource_options)
    specs = call_specs(target, [((), c) for c in calls], max_args_size=max_args_size, **options)
    record = create_bundle(
        where,
        specs,
        name=name,
        command=(target.name,),
        driver=driver,
        submit=submit,
        data=[{k: shown_value(v) for k, v in c.items()} for c in calls],
    )
    return Bundle(where, record.name)


def _task_options(
    resources: Resources | None,
    environment: str | None,
    envvars: Mapping[str, str] | None,
    depends_on: Sequence[str],
    resource_options: Mapping[str, Any],
) -> dict[str, Any]:
    if resources is not None and resource_options:
        raise TypeError("give resources either as a Resources or as keywords, not both")
    return {
        "resources": resources or parse_resources(**resource_options),
        "environment": environment,
        "envvars": dict(envvars or {}),
        "depends_on": tuple(depends_on),
    }


def _table(data: BulkData, zip_rows: bool) -> tuple[bulk.Table, list[dict[str, DataValue]]]:
    """The data as a bulk table (text, for the template) and as rows (values, for the bundle)."""
    if isinstance(data, Mapping):
        tables = []
        for key, values in data.items():
            if isinstance(values, str):
                tables.append(bulk.parse_data(f"{key}={values}"))
            else:
                tables.append(bulk.Table([key], [[_text(v)] for v in values]))
        table = bulk.combine(tables, zip_rows=zip_rows)
        return table, [dict(r) for r in bulk.rows(table)]
    rows = [dict(r) for r in data]
    if not rows:
        raise InvalidInputError("no rows of data given", "Give at least one row.")
    names = list(rows[0])
    for number, row in enumerate(rows, start=1):
        if list(row) != names:
            raise InvalidInputError(
                f"row {number} has the names {', '.join(row)}, not {', '.join(names)}",
                "Give every row the same names, in the same order.",
            )
    table = bulk.Table(names, [[_text(row[n]) for n in names] for row in rows])
    return table, [{k: shown_value(v) for k, v in row.items()} for row in rows]


def _text(value: Any) -> str:
    """A value as it goes into a command line: text as it is, numbers as Python writes them."""
    return value if isinstance(value, str) else str(value)
