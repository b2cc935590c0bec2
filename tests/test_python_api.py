"""The Python API on the local driver: task handles, the executor, bundles and sweep results.

The Slurm suite runs the executor's map on the real cluster
(tests/slurm/test_slurm_executor.py).
"""

from __future__ import annotations

import asyncio
import csv
import io
import pickle
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import as_completed as futures_as_completed
from typing import Any

import pytest

from hipercow_core import (
    Bundle,
    HipercowExecutor,
    Task,
    TaskFailedError,
    as_completed,
    bulk_call,
    create_bulk,
    create_expression_task,
    wait,
)
from hipercow_core.bundle_tasks import bundle_task_ids
from hipercow_core.drivers.local import LocalDriver
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_testing import Cli

pytestmark = pytest.mark.timeout(300)


def square(x: int) -> int:
    return x * x


def explode(x: int) -> int:
    if x == 3:
        raise ValueError(f"no threes here, got {x}")
    return x


def summarise(n: int, method: str) -> dict[str, Any]:
    if method == "bad":
        raise RuntimeError(f"method {method} cannot fit n={n}")
    return {"fit": n * 10, "method_used": method}


class Submissions:
    """Every call the local driver's `submit` gets, with how many tasks each carried."""

    def __init__(self) -> None:
        self.sizes: list[int] = []


@pytest.fixture
def submissions(monkeypatch: pytest.MonkeyPatch) -> Submissions:
    """Counts driver submissions; each still goes to the real local driver."""
    seen = Submissions()
    real = LocalDriver.submit

    def counted(self: LocalDriver, requests: Any) -> Any:
        seen.sizes.append(len(requests))
        return real(self, requests)

    monkeypatch.setattr(LocalDriver, "submit", counted)
    return seen


@pytest.fixture
def executor(project: Root) -> Iterator[HipercowExecutor]:
    with HipercowExecutor(project) as ex:
        yield ex


def test_map_returns_100_values_in_order_from_one_bundle_and_one_submission(
    project: Root, executor: HipercowExecutor, submissions: Submissions
) -> None:
    results = executor.map(square, range(100), name="squares")
    assert list(results) == [x * x for x in range(100)]
    assert submissions.sizes == [100]
    bundle = Bundle(project, "squares")
    assert len(bundle.record.task_ids) == 100
    assert bundle.counts() == {TaskStatus.SUCCESS: 100}
    # each task's row names the argument after the function's parameter
    assert bundle.record.data[7] == {"x": 7}


def run_sweep(project: Root, code: str, *, timeout: float) -> subprocess.CompletedProcess[str]:
    """`code` as a user's script `sweep.py` in the project, run by its own interpreter."""
    script = project.project / "sweep.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=project.project,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_function_defined_in_main_runs_as_a_task(project: Root) -> None:
    done = run_sweep(
        project,
        """
            from hipercow_core import HipercowExecutor

            OFFSET = 1000

            def shifted(x):
                return x + OFFSET

            if __name__ == "__main__":
                with HipercowExecutor() as ex:
                    print(list(ex.map(shifted, range(5))))
                    print(ex.submit(lambda y: y * 3, 14).result(timeout=120))
            """,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[1000, 1001, 1002, 1003, 1004]", "42"]


def test_a_map_keeps_one_copy_of_a_function_sent_by_value_and_a_retry_still_runs(
    project: Root, cli: Cli
) -> None:
    """A notebook function holding data, mapped widely, must not fill the share."""
    done = run_sweep(
        project,
        """
            import os
            from hipercow_core import HipercowExecutor

            HELD = b"x" * 2_000_000

            def held_plus(x):
                if x == 3 and not os.path.exists("second-go"):
                    raise RuntimeError("not yet")
                return len(HELD) + x

            if __name__ == "__main__":
                with HipercowExecutor() as ex:
                    ex.submit(held_plus, 0)  # a single call keeps its function in args.pkl
                    results = ex.map(held_plus, range(20), name="held")
                    for x, future in zip(range(20), results.futures):
                        print(x, future.exception(timeout=240) is None)
            """,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "3 False" in done.stdout.splitlines()
    ids = bundle_task_ids(project, "held")
    functions = [project.task_dir(t) / "function.pkl" for t in ids]
    assert all(f.is_file() for f in functions)
    assert len({f.stat().st_ino for f in functions}) == 1  # one file, linked into each task
    kept = {p.stat().st_ino: p.stat().st_size for p in project.tasks_dir.rglob("*") if p.is_file()}
    assert sum(kept.values()) < 6_000_000  # the map's copy, the single call's, and small files
    (project.project / "second-go").touch()
    retried = cli("task", "retry", ids[3]).stdout.split()[-1]
    assert cli("task", "wait", retried, "--timeout", "120").code == 0
    assert Task(project, retried).result() == 2_000_003


def test_as_completed_yields_tasks_as_they_finish(project: Root) -> None:
    gate = project.project / "go"
    slow = Task(
        project,
        create_expression_task(
            project,
            "import pathlib, time\n"
            "while not pathlib.Path('go').exists():\n"
            "    time.sleep(0.05)\n"
            "'slow'",
        ),
    )
    fast = Task(project, create_expression_task(project, "'fast'"))
    finished = as_completed([slow, fast], timeout=120)
    assert next(finished) == fast
    assert not slow.done()
    gate.write_text("")
    assert next(finished) == slow
    assert slow.result() == "slow"
    with pytest.raises(StopIteration):
        next(finished)


def test_wait_returns_on_the_first_completed(project: Root) -> None:
    blocked = Task(
        project,
        create_expression_task(
            project, "import pathlib, time\nwhile not pathlib.Path('go').exists(): time.sleep(0.05)"
        ),
    )
    quick = Task(project, create_expression_task(project, "1"))
    done, not_done = wait([blocked, quick], timeout=120, return_when="FIRST_COMPLETED")
    assert done == {quick}
    assert not_done == {blocked}
    (project.project / "go").write_text("")
    done, not_done = wait([blocked, quick], timeout=120)
    assert done == {blocked, quick}
    assert not not_done


def test_a_failing_call_raises_task_failed_error_with_the_remote_traceback(
    executor: HipercowExecutor,
) -> None:
    future = executor.submit(explode, 3)
    with pytest.raises(TaskFailedError) as raised:
        future.result(timeout=120)
    error = raised.value
    assert error.error_type == "ValueError"
    assert error.error_message == "no threes here, got 3"
    assert "in explode" in error.traceback
    assert "ValueError: no threes here, got 3" in error.traceback
    assert "ValueError: no threes here, got 3" in (error.log_tail or "")
    assert "queued on the local driver" in (error.outer_log or "")
    assert any("in explode" in note for note in error.__notes__)
    # the same error, with its parts, after a round trip through pickle
    again = pickle.loads(pickle.dumps(error))
    assert (again.task_id, again.traceback) == (error.task_id, error.traceback)


def test_a_failed_shell_task_says_how_it_ended(project: Root) -> None:
    bundle = create_bulk(project, ["sh", "-c", "echo trying @x; exit @x"], {"x": [0, 3]})
    ok, failed = bundle.tasks()
    assert ok.result(timeout=120) is None
    with pytest.raises(TaskFailedError, match="failed \\(exit code 3\\)") as raised:
        failed.result(timeout=120)
    assert raised.value.log_tail == "trying 3\n"


def test_await_works_under_asyncio(project: Root, executor: HipercowExecutor) -> None:
    tasks = [executor.submit(square, n).task for n in range(4)]

    async def gather() -> list[Any]:
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(gather()) == [0, 1, 4, 9]


def test_a_batch_goes_as_one_submission(
    executor: HipercowExecutor, submissions: Submissions
) -> None:
    with executor.batch():
        first = executor.submit(square, 5)
        second = executor.submit(square, 6)
        mapped = executor.map(square, [7, 8])
        assert submissions.sizes == []
        assert first.task.status() == TaskStatus.CREATED
    assert submissions.sizes == [4]
    assert [first.result(120), second.result(120), *mapped] == [25, 36, 49, 64]


def test_futures_work_with_concurrent_futures_as_completed(executor: HipercowExecutor) -> None:
    futures = [executor.submit(square, n) for n in range(3)]
    assert sorted(f.result() for f in futures_as_completed(futures, timeout=120)) == [0, 1, 4]


def test_closing_the_executor_leaves_tasks_running_unless_asked(project: Root) -> None:
    blocker = "import pathlib, time\nwhile not pathlib.Path('go').exists(): time.sleep(0.05)"
    executor = HipercowExecutor(project)
    kept = executor.submit(exec, blocker)
    executor.shutdown(wait=False)
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(square, 1)
    other = HipercowExecutor(project)
    cancelled = other.submit(exec, blocker)
    other.shutdown(wait=True, cancel_futures=True)
    assert cancelled.cancelled()
    assert cancelled.task.status() == TaskStatus.CANCELLED
    assert kept.task.status() in (TaskStatus.SUBMITTED, TaskStatus.RUNNING)
    (project.project / "go").write_text("")
    assert kept.result(timeout=120) is None


def test_a_task_handle_answers_questions_and_survives_pickling(project: Root) -> None:
    task = Task(project, create_expression_task(project, "print('hello'); 6 * 7"))
    assert task.result(timeout=120) == 42
    assert task.done() and task.exception() is None
    assert task.log() == "hello\n"
    assert task.info().status == TaskStatus.SUCCESS
    copy = pickle.loads(pickle.dumps(task))
    assert copy == task and copy.result() == 42
    assert repr(task) == f"<Task {task.id} success>"
    retried = task.retry(max_runtime="30m")
    assert retried.result(timeout=120) == 42
    assert retried.info().data.resources.max_runtime == 30
    assert task.latest() == retried.id


def test_a_task_can_be_cancelled_and_result_times_out(project: Root) -> None:
    task = Task(project, create_expression_task(project, "import time; time.sleep(600)"))
    with pytest.raises(TimeoutError):
        task.result(timeout=0.5)
    assert task.cancel()
    assert task.status() == TaskStatus.CANCELLED
    with pytest.raises(TaskFailedError, match="was cancelled"):
        task.result()


def test_bulk_call_keeps_rows_and_gives_results_as_dicts(project: Root) -> None:
    rows = [{"n": n, "method": m} for n in (1, 2) for m in ("ols", "bad")]
    bundle = bulk_call(project, summarise, rows, name="fits")
    progress: list[dict[TaskStatus, int]] = []
    assert bundle.wait(timeout=120, progress=progress.append) == {
        TaskStatus.SUCCESS: 2,
        TaskStatus.FAILURE: 2,
    }
    assert progress and sum(progress[-1].values()) == 4
    results = bundle.results()
    assert [(r["n"], r["method"], r["status"]) for r in results] == [
        (1, "ols", "success"),
        (1, "bad", "failure"),
        (2, "ols", "success"),
        (2, "bad", "failure"),
    ]
    assert results[0]["fit"] == 10 and results[0]["method_used"] == "ols"
    assert results[1]["error"] == "RuntimeError: method bad cannot fit n=1"
    assert results.columns[:4] == ["task", "n", "method", "status"]
    assert all(r["runtime"] is not None and r["runtime"] >= 0 for r in results)
    frame = results.to_frame()
    assert list(frame["fit"].dropna()) == [10, 20]
    # the table follows each task to its latest retry
    retried = bundle.retry()
    assert len(retried) == 2
    bundle.wait(timeout=120)
    assert [r["task"] for r in bundle.results()][1] == retried[results[1]["task"]]


def test_bundle_result_csv_has_the_inputs_and_the_failing_rows_error(cli: Cli) -> None:
    (cli.cwd / "model.py").write_text(
        "def fit(alpha, beta):\n"
        "    if alpha == 2:\n"
        "        raise ValueError('alpha 2 diverged')\n"
        "    return {'loss': alpha * beta}\n"
    )
    cli("bulk", "call", "model:fit", "--name", "sweep", "--data", "alpha=1..3", "--data", "beta=5")
    cli("bundle", "wait", "sweep", "--timeout", "120", check=False)
    shown = cli("bundle", "result", "sweep", "--format", "csv", check=False)
    assert shown.code == 1
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert list(rows[0])[:4] == ["task", "alpha", "beta", "status"]
    assert [(r["alpha"], r["beta"], r["status"], r["loss"]) for r in rows] == [
        ("1", "5", "success", "5"),
        ("2", "5", "failure", ""),
        ("3", "5", "success", "15"),
    ]
    assert rows[1]["error"] == "ValueError: alpha 2 diverged"
    lines = cli("bundle", "result", "sweep", "--format", "jsonl", check=False).stdout.splitlines()
    assert '"alpha": 2' in lines[1] and '"loss": null' in lines[1]
    table = cli("bundle", "result", "sweep", "--format", "table", check=False).stdout
    assert "alpha 2 diverged" in table
    bad = cli("bundle", "result", "sweep", "--format", "xml", check=False)
    assert bad.code != 0 and bad.stderr.startswith("Error: --format 'xml' is not known")


def test_results_never_import_pandas_unless_asked(project: Root) -> None:
    create_bulk(project, ["echo", "@x"], {"x": "1..2"}, name="plain").wait(timeout=120)
    probe = (
        "import sys\n"
        "from hipercow_core import Bundle\n"
        "rows = Bundle(None, 'plain').results()\n"
        "assert [r['x'] for r in rows] == ['1', '2'], rows\n"
        "rows._repr_html_()\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=project.project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_notebook_displays_show_statuses_and_reprs_stay_one_line(project: Root) -> None:
    bundle = create_bulk(project, ["sh", "-c", "exit @code"], [{"code": 0}, {"code": 1}])
    bundle.wait(timeout=120)
    page = bundle._repr_html_()
    assert "2 tasks" in page and ">success<" in page and ">failure<" in page
    assert "<td" in page and page.count("<tr>") == 3
    assert "\n" not in repr(bundle)
    assert repr(bundle).endswith("2 tasks (1 success, 1 failure)>")
    results = bundle.results()
    assert ">failure<" in results._repr_html_()
    assert repr(results) == (
        f"<ResultTable of bundle {bundle.name}: 2 rows (1 success, 1 failure), 5 columns>"
    )
    assert ">success<" in bundle.tasks()[0]._repr_html_()


def test_bad_input_to_the_api_says_what_to_do(project: Root) -> None:
    from hipercow_core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="template uses @y"):
        create_bulk(project, ["echo", "@y"], {"x": [1]})
    with pytest.raises(InvalidInputError, match="row 2 has the names"):
        create_bulk(project, ["echo", "@x"], [{"x": 1}, {"z": 2}])
    with pytest.raises(InvalidInputError, match="no bundle called 'nope'"):
        Bundle(project, "nope")
    assert not list((project.path / "tasks").glob("*/*.json"))
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match="not callable"):
        bulk_call(project, 42, [{"x": 1}])  # type: ignore[arg-type]
    assert time.monotonic() - started < 30


def test_map_over_nothing_makes_no_bundle_and_map_timeout_counts_from_the_call(
    project: Root, executor: HipercowExecutor
) -> None:
    empty = executor.map(square, [])
    assert list(empty) == [] and empty.bundle is None
    assert not list((project.path / "bundles").glob("*.json"))
    slow = executor.map(time.sleep, [600], timeout=0.5)
    with pytest.raises(TimeoutError):
        next(slow)
    # the executor's watcher may see the cancel first; it is still this call's cancel
    assert slow.bundle.cancel() == {slow.futures[0].task.id: True}
    assert slow.futures[0].task.status() == TaskStatus.CANCELLED
