"""Runs a Python task inside the task's own interpreter: `python pyexec.py ROOT TASK_ID`.

This file imports nothing from hipercow and nothing outside the standard
library (cloudpickle only if the environment has it), because it runs with
the interpreter of the task's environment, where hipercow is not installed.
The runner starts it as a plain command; it executes the expression,
statements, script or function call, and writes the result (or the raised
exception with its traceback) next to the task's data.

Values travel as JSON when they are plain data; floats that JSON cannot
hold (nan, inf) are tagged so they come back as floats. Anything else
travels as a pickle (cloudpickle when available).

A task whose payload says `exit: immediate` (hipercow's own provisioning
jobs) leaves through `os._exit` once its result is written and its output
flushed, skipping the interpreter's shutdown: native libraries it loaded
(py-rattler's runtime) can crash the process as they are torn down, which
would turn a recorded success into a failed task.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import linecache
import math
import os
import pickle
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

RESULT_JSON = "result.json"
RESULT_PICKLE = "result.pkl"
ERROR = "error.json"
ARGS_JSON = "args.json"
ARGS_PICKLE = "args.pkl"
#: A function sent by value, apart from its call's arguments (one copy, linked, per map).
FUNCTION_PICKLE = "function.pkl"
FLOAT_TAG = "__hipercow_float__"
#: The payload entry that asks for `os._exit` after the result (see the module's doc).
EXIT_PAYLOAD = "exit"
EXIT_IMMEDIATE = "immediate"


def tag_floats(value: Any) -> Any:
    """Plain data with non-finite floats tagged; raises TypeError for anything else."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {FLOAT_TAG: repr(value)}
    if isinstance(value, (list, tuple)):
        return [tag_floats(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: tag_floats(v) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} is not plain data")


def untag_floats(value: Any) -> Any:
    if isinstance(value, list):
        return [untag_floats(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and FLOAT_TAG in value:
            return float(value[FLOAT_TAG])
        return {k: untag_floats(v) for k, v in value.items()}
    return value


def pickler() -> Any:
    try:
        import cloudpickle  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return pickle
    return cloudpickle


def _atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary name, which never outlives a failed write (a full disk)."""
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_value(task_dir: Path, value: Any) -> None:
    try:
        encoded = json.dumps({"value": tag_floats(value)}, allow_nan=False).encode()
    except (TypeError, ValueError):
        _atomic_write(task_dir / RESULT_PICKLE, pickler().dumps(value))
        return
    _atomic_write(task_dir / RESULT_JSON, encoded)


def user_traceback(error: BaseException) -> str:
    """The traceback from the user's code down, without this file's or runpy's frames."""
    tb = error.__traceback__
    while tb is not None and (
        tb.tb_frame.f_code.co_filename == __file__
        or tb.tb_frame.f_code.co_filename.endswith(("runpy.py", "<frozen runpy>"))
    ):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def write_error(task_dir: Path, error: BaseException, trace: str) -> None:
    record = {"type": type(error).__name__, "message": str(error), "traceback": trace}
    _atomic_write(task_dir / ERROR, json.dumps(record).encode())


def load_arguments(task_dir: Path) -> tuple[list[Any], dict[str, Any]]:
    pickled = task_dir / ARGS_PICKLE
    if pickled.exists():
        args, kwargs = pickle.loads(pickled.read_bytes())
        return list(args), dict(kwargs)
    plain = task_dir / ARGS_JSON
    if plain.exists():
        record = untag_floats(json.loads(plain.read_bytes()))
        return list(record["args"]), dict(record["kwargs"])
    return [], {}


def run_code(code: str, filename: str) -> Any:
    """Statements, then the value of a final expression (None without one)."""
    tree = ast.parse(code, filename=filename)
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    if last is not None:
        tree.body.pop()
    exec(compile(tree, filename, "exec"), namespace)
    if last is None:
        return None
    return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)


def run_call(target: str, task_dir: Path) -> Any:
    module_name, _, function_name = target.partition(":")
    function: Any = importlib.import_module(module_name)
    for part in function_name.split("."):
        function = getattr(function, part)
    args, kwargs = load_arguments(task_dir)
    return function(*args, **kwargs)


def run_pickled_call(task_dir: Path) -> Any:
    """Call a function that travelled by value.

    A map's calls keep the function in `function.pkl` (written once, linked
    into each task) and their arguments in `args.pkl`; a single call, or a
    task of an older hipercow, keeps the function inside `args.pkl`, pickled
    or as the bytes of its pickle.
    """
    stored = pickle.loads((task_dir / ARGS_PICKLE).read_bytes())
    own = task_dir / FUNCTION_PICKLE
    if own.exists():
        function = pickle.loads(own.read_bytes())
        args, kwargs = stored
    else:
        function, args, kwargs = stored
    if isinstance(function, bytes):
        function = pickle.loads(function)
    return function(*args, **kwargs)


def run_script(script: str, args: list[str]) -> None:
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


def execute(data: dict[str, Any], task_dir: Path) -> Any:
    kind = data["kind"]
    command = data["command"]
    if kind == "python":
        return run_code(command[0], f"<hipercow task {data['id'][:8]}>")
    if kind == "script":
        run_script(command[0], list(command[1:]))
        return None
    if data.get("payload", {}).get("function") == "pickled":
        return run_pickled_call(task_dir)
    return run_call(command[0], task_dir)


def main(argv: list[str]) -> int:
    root, task_id = Path(argv[0]), argv[1]
    task_dir = root / "hipercow" / "tasks" / task_id[:2] / task_id[2:]
    data = json.loads(task_dir.with_name(task_id[2:] + ".json").read_bytes())  # UTF-8, any locale
    sys.path.insert(0, os.getcwd())
    code = run_task(data, task_dir)
    if data.get("payload", {}).get(EXIT_PAYLOAD) == EXIT_IMMEDIATE:
        leave_now(code)
    return code


def leave_now(code: int) -> None:
    """Exit at once with `code`, output flushed, without the interpreter's shutdown."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def run_task(data: dict[str, Any], task_dir: Path) -> int:
    """Run the task and write its value or error; returns the exit status it earned."""
    try:
        value = execute(data, task_dir)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code != 0:
            write_error(task_dir, e, f"SystemExit: {e.code}\n")
        else:
            write_value(task_dir, None)  # a script that exits cleanly succeeded, with no value
        return code
    except BaseException as e:
        trace = user_traceback(e)
        sys.stderr.write(trace)
        write_error(task_dir, e, trace)
        return 1
    write_value(task_dir, value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
