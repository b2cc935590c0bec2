"""A long-lived Python process that runs Python tasks one after another: `python executor.py PYEXEC`.

The worker starts one of these with the interpreter of its environment and
sends it Python tasks (expressions, calls) as JSON lines on stdin, so each
task costs no interpreter start-up and no re-import of what earlier tasks
imported. It runs each with core's `pyexec` (loaded from the path given, since
hipercow need not be installed in the environment), with the task's working
directory and variables, its output sent to the task's log, and answers one
JSON line with the exit status. Kept apart from the worker so a task that
crashes its process (a segfault, `os._exit`) takes only this process down:
the worker records the failure and starts a new one. Cancelling a running
task is killing this process. Standard library only; no fork, no signals.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO


def load_pyexec(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("hipercow_pyexec", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"executor: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def switch_environment(current: dict[str, str], wanted: dict[str, str]) -> None:
    """Make `os.environ` (whose contents are `current`) equal `wanted`, touching only what differs.

    Tasks' environments differ from the executor's in a few variables (the
    task id, its cores); `os.environ.clear()` then `update()` would re-set
    every variable through putenv, and `clear()` alone is quadratic in their
    number: together most of the executor's time per trivial task.
    """
    for name in current.keys() - wanted.keys():
        del os.environ[name]
    for name, value in wanted.items():
        if current.get(name) != value:
            os.environ[name] = value


def run_one(pyexec: Any, request: dict[str, Any]) -> int:
    """Run one task with its cwd, variables and log; put the process back as it was after."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_path = list(sys.path)
    saved_out, saved_err = os.dup(1), os.dup(2)
    with open(request["log"], "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        switch_environment(saved_env, request["env"])
        os.chdir(request["cwd"])
        code: int = pyexec.main([request["root"], request["task_id"]])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        os.chdir(saved_cwd)
        switch_environment(dict(os.environ), saved_env)  # as the task left it, back
        sys.path[:] = saved_path
    return code


def serve(pyexec: Any, requests: Iterable[bytes], answers: TextIO) -> None:
    """Requests are UTF-8 JSON lines, read as bytes: the locale's encoding may be another."""
    for line in requests:
        if not line.strip():
            continue
        try:
            code = run_one(pyexec, json.loads(line))
        except Exception as e:  # the task could not even be set up (its log, its cwd)
            sys.stderr.write(f"hipercow executor: cannot run the task: {e}\n")
            code = 1
        answers.write(json.dumps({"code": code}) + "\n")
        answers.flush()


def main(argv: list[str]) -> int:
    pyexec = load_pyexec(argv[0])
    # Answers go on a copy of the original stdout: fd 1 itself is each task's log in turn.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    serve(pyexec, sys.stdin.buffer, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
