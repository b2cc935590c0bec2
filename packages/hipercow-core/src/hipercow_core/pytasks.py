"""Python tasks: expressions and statements, scripts, and function calls, and their results.

Creation checks what it can before anything is written: the code parses,
the script lies inside the project, the module imports and the function is
callable (in a separate process, with the interpreter the task will use),
and the arguments are encodable within the size limit. The work itself runs
in `pyexec.py`, with the task's own interpreter.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from hipercow_core import pyexec
from hipercow_core.drive_paths import resolve
from hipercow_core.errors import CorruptFileError, HipercowError, InvalidInputError, TaskStateError
from hipercow_core.fsutil import decode, read_bytes
from hipercow_core.interpreters import environment_python
from hipercow_core.root import Root
from hipercow_core.schema import TaskStatus
from hipercow_core.store import REMOVE_HINT, file_status, read_markers, read_task_data
from hipercow_core.tasks import TaskSpec, create_tasks

DEFAULT_MAX_ARGS_SIZE = 10_000_000
Serialization = Literal["json", "pickle"]


class TaskFailedError(HipercowError):
    """A task did not succeed: a Python task's exception (type, message, remote traceback),
    or how another task ended, with the end of its log and the scheduler's log when known.

    The remote traceback and the log's end are also attached as notes (PEP 678),
    so a notebook or a Python traceback shows them under the error itself; the
    CLI shows only the message and the hint.
    """

    def __init__(
        self,
        task_id: str,
        error_type: str,
        message: str,
        trace: str,
        *,
        ended: str | None = None,
        log_tail: str | None = None,
        outer_log: str | None = None,
    ) -> None:
        summary = (
            f"task {task_id} {ended}" if ended else f"task {task_id} raised {error_type}: {message}"
        )
        super().__init__(summary, "The traceback is in 'hipercow task log'.")
        self.task_id = task_id
        self.error_type = error_type
        self.error_message = message
        self.traceback = trace
        self.ended = ended
        self.log_tail = log_tail
        self.outer_log = outer_log
        if trace:
            self.add_note(f"Remote traceback:\n{trace.rstrip()}")
        if log_tail:
            self.add_note(f"End of the task's log:\n{log_tail.rstrip()}")
        if outer_log:
            self.add_note(f"The scheduler's log:\n{outer_log.rstrip()}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable (a future's exception may cross processes): rebuilt from its parts."""
        extra = {"ended": self.ended, "log_tail": self.log_tail, "outer_log": self.outer_log}
        return (
            _rebuild_failure,
            (self.task_id, self.error_type, self.error_message, self.traceback, extra),
        )


def _rebuild_failure(
    task_id: str, error_type: str, message: str, trace: str, extra: dict[str, str | None]
) -> TaskFailedError:
    return TaskFailedError(task_id, error_type, message, trace, **extra)


def expression_spec(code: str, **options: Any) -> TaskSpec:
    """A task running Python statements; the value of a final expression is its result."""
    try:
        ast.parse(code)
    except SyntaxError as e:
        raise InvalidInputError(
            f"the Python code does not parse: {e.msg} (line {e.lineno})",
            "Check the quoting: pass the code as one argument, e.g. --python 'x = 1; x + 1'.",
        ) from None
    return TaskSpec(command=(code,), kind="python", **options)


def script_spec(
    root: Root, script: Path, args: Sequence[str], cwd: Path, **options: Any
) -> TaskSpec:
    """A task running a script that lies inside the project, with arguments."""
    path = script if script.is_absolute() else cwd / script
    if not path.is_file():
        raise InvalidInputError(
            f"script '{script}' does not exist", "Give the path of a .py file in the project."
        )
    root.relative_path(path)
    relative = Path(_relative_to(resolve(path), resolve(cwd)))
    return TaskSpec(command=(relative.as_posix(), *args), kind="script", **options)


def _relative_to(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


def parse_cli_argument(text: str) -> Any:
    """A JSON literal where the text parses as one, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_keyword_names(keywords: Mapping[str, Any]) -> None:
    """Keyword argument names must be Python identifiers, or the call cannot be made."""
    import keyword

    for name in keywords:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise InvalidInputError(
                f"'{name}' is not a keyword argument name",
                "Use a Python identifier: letters, digits and '_', not starting with a digit.",
            )


def parse_args_json(text: str) -> tuple[list[Any], dict[str, Any]]:
    """`--args-json`: a JSON array (positional) or object (keyword arguments)."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise InvalidInputError(
            f"--args-json is not valid JSON: {e}",
            "Give a JSON array for positional arguments or an object for keyword arguments.",
        ) from None
    if isinstance(value, list):
        return value, {}
    if isinstance(value, dict):
        return [], value
    raise InvalidInputError(
        "--args-json must be a JSON array or object",
        "e.g. --args-json '[1, \"a\"]' or --args-json '{\"n\": 10}'.",
    )


def check_target(
    target: str, cwd: Path, environment: str | None = None, root: Root | None = None
) -> None:
    """Import the module and look up the function in a separate process, as the task will."""
    module, sep, function = target.partition(":")
    if not sep or not module or not function:
        raise InvalidInputError(
            f"'{target}' is not of the form module:function", "e.g. analysis.fit:run_model"
        )
    python = environment_python(environment, root)
    if python is None:
        return
    probe = (
        "import importlib, sys\n"
        "sys.path.insert(0, '')\n"
        f"m = importlib.import_module({module!r})\n"
        f"f = m\n"
        f"for part in {function!r}.split('.'):\n"
        "    f = getattr(f, part, None)\n"
        "    if f is None: sys.exit(3)\n"
        "sys.exit(0 if callable(f) else 4)\n"
    )
    done = subprocess.run(
        [python, "-c", probe],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return
    if done.returncode in (3, 4):
        what = "not found" if done.returncode == 3 else "not callable"
        raise InvalidInputError(
            f"'{function}' is {what} in module '{module}'",
            "Check the function's name and that it is defined at the module's top level.",
        )
    last = (done.stderr.strip().splitlines() or ["it failed to import"])[-1]
    raise InvalidInputError(
        f"module '{module}' cannot be imported from '{cwd}': {last}",
        "Modules are imported from the task's directory; run from the directory holding it.",
    )


_SIZE = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[kmgt]?)b?", re.IGNORECASE)
_SIZE_SCALE = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def parse_size(text: str, option: str) -> int:
    """Bytes from `2000`, `500k`, `10M`, `1G` (1k = 1000 bytes)."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise InvalidInputError(
            f"{option} '{text}' is not a size", "Give bytes or a size with a unit: 500k, 10M, 1G."
        )
    return int(float(match["n"]) * _SIZE_SCALE[match["unit"].lower()])


def encode_arguments(
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    serialization: Serialization,
    max_args_size: int,
    function: Any = None,
) -> dict[str, bytes]:
    """The argument file for a call task, refusing data over the size limit."""
    if serialization == "json" and function is None:
        try:
            record = {
                "args": pyexec.tag_floats(list(args)),
                "kwargs": pyexec.tag_floats(dict(kwargs)),
            }
            files = {pyexec.ARGS_JSON: json.dumps(record, allow_nan=False).encode()}
        except (TypeError, ValueError) as e:
            raise InvalidInputError(
                f"the arguments are not plain data ({e})",
                "Pass serialization='pickle' (CLI: arguments are JSON) to send other objects.",
            ) from None
    else:
        import cloudpickle

        payload = (
            (function, list(args), dict(kwargs))
            if function is not None
            else (list(args), dict(kwargs))
        )
        files = {pyexec.ARGS_PICKLE: cloudpickle.dumps(payload)}
    size = sum(len(v) for v in files.values())
    if size > max_args_size:
        raise InvalidInputError(
            f"the arguments take {size / 1e6:.1f} MB, over the {max_args_size / 1e6:g} MB limit",
            "Raise the limit with --max-args-size (Python: max_args_size=), or pass a file path instead.",
        )
    return files


def call_spec(
    target: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    cwd: Path,
    serialization: Serialization = "json",
    max_args_size: int = DEFAULT_MAX_ARGS_SIZE,
    check: bool = True,
    root: Root | None = None,
    **options: Any,
) -> TaskSpec:
    """A task calling `module:function` with arguments."""
    if check:
        check_target(target, cwd, options.get("environment"), root)
    files = encode_arguments(args, kwargs or {}, serialization, max_args_size)
    return TaskSpec(command=(target,), kind="call", files=files, **options)


def function_spec(
    function: Any,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    cwd: Path,
    root: Root | None = None,
    serialization: Serialization = "json",
    max_args_size: int = DEFAULT_MAX_ARGS_SIZE,
    **options: Any,
) -> TaskSpec:
    """A call task from a function object: by name when importable, else pickled whole."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    by_name = module not in (None, "__main__") and "<" not in qualname
    if by_name:
        return call_spec(
            f"{module}:{qualname}",
            args,
            kwargs,
            root=root,
            cwd=cwd,
            serialization=serialization,
            max_args_size=max_args_size,
            **options,
        )
    files = encode_arguments(args, kwargs or {}, "pickle", max_args_size, function=function)
    name = f"{module}:{qualname}"
    return TaskSpec(
        command=(name,), kind="call", files=files, payload={"function": "pickled"}, **options
    )


class _StoredValue(msgspec.Struct):
    value: Any


class _StoredError(msgspec.Struct):
    type: str
    message: str
    traceback: str


def result_size(root: Root, task_id: str) -> int | None:
    """Bytes of the stored result, so a front end can decide how to show it before reading it."""
    task_dir = root.task_dir(task_id)
    for name in (pyexec.RESULT_JSON, pyexec.RESULT_PICKLE):
        try:
            return (task_dir / name).stat().st_size
        except FileNotFoundError:
            continue
    return None


class ResultHead(msgspec.Struct, frozen=True):
    """The start of a large JSON result, read without decoding it all: its kind, size and text."""

    kind: str
    size: int
    head: str


_JSON_KINDS = {"[": "list", "{": "dict", '"': "str", "t": "bool", "f": "bool", "n": "None"}


def result_head(root: Root, task_id: str, length: int = 200) -> ResultHead | None:
    """The first `length` characters of a JSON result (None for a pickled or absent one).

    Reading a 200 MB value to show a line of it costs seconds and gigabytes;
    this reads a few hundred bytes.
    """
    path = root.task_dir(task_id) / pyexec.RESULT_JSON
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            start = f.read(length + 64).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    text = start.removeprefix('{"value": ').removeprefix('{"value":').lstrip()
    kind = _JSON_KINDS.get(text[:1], "number")
    return ResultHead(kind, size, text[:length])


def _unpickle(path: Path, raw: bytes, where: Path) -> Any:
    """A pickled result; a class this process cannot import is named, with what to do."""
    import pickle

    sys.path.insert(0, str(where))
    try:
        return pyexec.pickler().loads(raw)
    except (ImportError, AttributeError) as e:
        module = getattr(e, "name", None) or str(e)
        raise InvalidInputError(
            f"the result needs '{module}', which cannot be imported here ({e})",
            "Read it where that module is installed, e.g. in the task's environment, "
            f"or from '{where}'.",
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise CorruptFileError(
            str(path), f"'{path}' is unreadable ({type(e).__name__}: {e})", REMOVE_HINT
        ) from None


_value_decoder = msgspec.json.Decoder(_StoredValue)
_error_decoder = msgspec.json.Decoder(_StoredError)


def task_result(root: Root, task_id: str) -> Any:
    """The value a Python task returned; raises TaskFailedError if it raised."""
    data = read_task_data(root, task_id)
    task_dir = root.task_dir(task_id)
    raw = read_bytes(task_dir / pyexec.RESULT_JSON)
    if raw is not None:
        stored = decode(task_dir / pyexec.RESULT_JSON, raw, _value_decoder, REMOVE_HINT)
        return pyexec.untag_floats(stored.value)
    raw = read_bytes(task_dir / pyexec.RESULT_PICKLE)
    if raw is not None:
        return _unpickle(task_dir / pyexec.RESULT_PICKLE, raw, root.project / data.path)
    raw = read_bytes(task_dir / pyexec.ERROR)
    if raw is not None:
        error = decode(task_dir / pyexec.ERROR, raw, _error_decoder, REMOVE_HINT)
        raise TaskFailedError(task_id, error.type, error.message, error.traceback)
    status = file_status(root, task_id)
    if data.kind == "shell":
        raise TaskStateError(
            f"task {task_id} is a shell command, which has no result",
            "See its output with 'hipercow task log' and its exit code with 'hipercow task info'.",
        )
    if status == TaskStatus.SUCCESS:
        return None
    if status.is_terminal:
        finished = read_markers(root, task_id).finished
        reason = finished.reason if finished and finished.reason else status.value
        raise TaskStateError(
            f"task {task_id} ended without a result ({reason})",
            "See 'hipercow task log' and 'hipercow task log --outer'.",
        )
    raise TaskStateError(
        f"task {task_id} has no result yet: it is {status}",
        f"Wait for it with 'hipercow task wait {task_id}'.",
    )


def create_expression_task(
    root: Root, code: str, *, cwd: Path | None = None, **options: Any
) -> str:
    """Create (and submit) a task evaluating Python code; returns its id."""
    spec = expression_spec(code, **_spec_options(options))
    return create_tasks(root, [spec], cwd=cwd, **_create_options(options))[0]


def create_call_task(
    root: Root,
    function: Any,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    cwd: Path | None = None,
    serialization: Serialization = "json",
    max_args_size: int = DEFAULT_MAX_ARGS_SIZE,
    **options: Any,
) -> str:
    """Create (and submit) a task calling a function ('module:function' or the object itself)."""
    where = cwd or Path.cwd()
    spec_options = _spec_options(options)
    if isinstance(function, str):
        spec = call_spec(
            function,
            args,
            kwargs,
            root=root,
            cwd=where,
            serialization=serialization,
            max_args_size=max_args_size,
            **spec_options,
        )
    else:
        spec = function_spec(
            function,
            args,
            kwargs,
            root=root,
            cwd=where,
            serialization=serialization,
            max_args_size=max_args_size,
            **spec_options,
        )
    return create_tasks(root, [spec], cwd=where, **_create_options(options))[0]


_CREATE_OPTIONS = ("driver", "submit")


def _create_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in _CREATE_OPTIONS}


def _spec_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in _CREATE_OPTIONS}
