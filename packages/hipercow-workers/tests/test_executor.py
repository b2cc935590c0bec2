"""The executor that runs Python tasks in one long-lived process, driven as the worker drives it.

No Redis here: these tests speak the executor's line protocol directly, with
real task files made by core, and check what a user would see afterwards
(the result, the error, the log).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hipercow_core.pytasks import call_spec, expression_spec, task_result
from hipercow_core.root import Root
from hipercow_core.run import task_environment
from hipercow_core.store import ensure_task_dir, log_path, read_task_data
from hipercow_core.tasks import create_tasks
from hipercow_workers.worker import Executor


@pytest.fixture
def root(tmp_path: Path) -> Root:
    project = tmp_path / "project"
    project.mkdir()
    (project / "counter.py").write_text(
        "calls = 0\n"
        "def bump():\n"
        "    global calls\n"
        "    calls += 1\n"
        "    print('call', calls)\n"
        "    return calls\n"
    )
    root, _ = Root.init(project)
    return root


def request(root: Root, task_id: str) -> dict[str, object]:
    ensure_task_dir(root, [task_id])  # as submitting would
    data = read_task_data(root, task_id)
    return {
        "root": str(root.project),
        "task_id": task_id,
        "cwd": str(root.project / data.path),
        "env": task_environment(root, data),
        "log": str(log_path(root, task_id)),
    }


def answer(executor: Executor) -> dict[str, int] | None:
    line = executor.answers.get(timeout=60)
    return None if line is None else dict(json.loads(line))


def test_tasks_share_one_process_and_keep_their_own_logs(root: Root) -> None:
    spec = call_spec("counter:bump", cwd=root.project, root=root)
    first, second = create_tasks(root, [spec, spec], cwd=root.project, submit=False)
    executor = Executor(sys.executable)
    try:
        executor.send(request(root, first))
        assert answer(executor) == {"code": 0}
        pid = executor.ensure().pid
        executor.send(request(root, second))
        assert answer(executor) == {"code": 0}
        assert executor.ensure().pid == pid
    finally:
        executor.close()
    # The module stayed imported: the second call saw the first call's state.
    assert task_result(root, first) == 1
    assert task_result(root, second) == 2
    assert log_path(root, first).read_text() == "call 1\n"
    assert log_path(root, second).read_text() == "call 2\n"


def test_an_exception_is_recorded_and_the_process_goes_on(root: Root) -> None:
    failing = expression_spec("raise KeyError('nope')")
    fine = expression_spec("6 * 7")
    bad, good = create_tasks(root, [failing, fine], cwd=root.project, submit=False)
    executor = Executor(sys.executable)
    try:
        executor.send(request(root, bad))
        assert answer(executor) == {"code": 1}
        executor.send(request(root, good))
        assert answer(executor) == {"code": 0}
    finally:
        executor.close()
    assert "KeyError: 'nope'" in log_path(root, bad).read_text()
    assert task_result(root, good) == 42


def test_a_task_that_exits_the_process_gives_no_answer_and_a_new_process_starts(
    root: Root,
) -> None:
    crash, after = create_tasks(
        root,
        [expression_spec("import os; os._exit(7)"), expression_spec("1 + 1")],
        cwd=root.project,
        submit=False,
    )
    executor = Executor(sys.executable)
    try:
        executor.send(request(root, crash))
        first = executor.ensure()
        assert answer(executor) is None
        assert first.wait(timeout=30) == 7
        executor.send(request(root, after))  # `send` starts a fresh executor
        assert executor.ensure().pid != first.pid
        assert answer(executor) == {"code": 0}
    finally:
        executor.close()
    assert task_result(root, after) == 2


def test_each_task_sees_its_own_variables_and_none_another_task_set(root: Root) -> None:
    """Variables reach the task whatever their characters, and what a task sets dies with it."""
    setter = expression_spec(
        "import os; os.environ['LEFT_BEHIND'] = 'x'; os.environ.pop('HOME', None); "
        "os.environ['GREETING']"
    )
    reader = expression_spec(
        "import os; (os.environ.get('LEFT_BEHIND'), 'HOME' in os.environ, "
        "os.environ.get('GREETING'))"
    )
    first, second = create_tasks(root, [setter, reader], cwd=root.project, submit=False)
    executor = Executor(sys.executable, {"HOME": "/home/someone", "PATH": "/usr/bin:/bin"})
    try:
        asked = request(root, first)
        own = task_environment(root, read_task_data(root, first))
        asked["env"] = {**own, "GREETING": "grüße ✓"}
        executor.send(asked)
        assert answer(executor) == {"code": 0}
        executor.send(request(root, second))
        assert answer(executor) == {"code": 0}
    finally:
        executor.close()
    assert task_result(root, first) == "grüße ✓"
    assert task_result(root, second) == [None, True, None]
