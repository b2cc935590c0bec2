"""Many calls of one Python function as task specs: the executor's and `bulk_call`'s building block.

The function is judged once for the whole batch, not once per call: a
`module:function` name (or a function whose module imports where the task
runs) travels by name and is checked with one probe; a function defined in
`__main__` or a notebook cell, a lambda or a closure travels by value,
through cloudpickle. Arguments go as JSON when they are plain data and as a
pickle otherwise, call by call, so the common case stays readable on disk.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hipercow_core import pyexec
from hipercow_core.errors import InvalidInputError
from hipercow_core.pytasks import (
    DEFAULT_MAX_ARGS_SIZE,
    Serialization,
    call_spec,
    check_target,
    encode_arguments,
)
from hipercow_core.root import Root
from hipercow_core.schema import DataValue
from hipercow_core.tasks import TaskSpec

#: One call: positional and keyword arguments.
Call = tuple[Sequence[Any], Mapping[str, Any]]

#: Longest text kept in a bundle row for a value that is not plain data.
_SHOWN_LENGTH = 60


class FunctionTarget:
    """How a function reaches the node: by `module:function` name, or by value (pickled).

    Made once per batch; `spec` then costs only the encoding of one call's arguments.
    """

    def __init__(
        self,
        root: Root,
        function: str | Callable[..., Any],
        *,
        cwd: Path,
        environment: str | None = None,
        probe: Callable[[str], bool] | None = None,
    ) -> None:
        self.function = function
        self.cwd = cwd
        self.name = _target_name(function)
        self._pickled: bytes | None = None
        by_name = isinstance(function, str) or _named_importably(function)
        if isinstance(function, str):
            check_target(function, cwd, environment, root)
        elif by_name:
            by_name = (probe or _probe(root, cwd, environment))(self.name)
        self.by_name = by_name

    def _blob(self) -> bytes:
        """The function pickled by value, once per target: a map of 500 calls pickles it once.

        (pickling a function by value is most of the cost of a call's file;
        the node unpickles these bytes, then calls the function.)
        """
        if self._pickled is None:
            import cloudpickle

            with _by_value(self.function):
                self._pickled = cloudpickle.dumps(self.function)
        return self._pickled

    def spec(
        self, args: Sequence[Any], kwargs: Mapping[str, Any], max_args_size: int, **options: Any
    ) -> TaskSpec:
        """The task spec of one call (`options` are TaskSpec fields: resources, environment...)."""
        if self.by_name:
            serialization: Serialization = "json" if _plain(args, kwargs) else "pickle"
            return call_spec(
                self.name,
                args,
                kwargs,
                cwd=self.cwd,
                check=False,
                serialization=serialization,
                max_args_size=max_args_size,
                **options,
            )
        function = self._blob()
        if len(function) > max_args_size:
            raise InvalidInputError(
                f"the function '{self.name}' takes {len(function) / 1e6:.1f} MB pickled, "
                f"over the {max_args_size / 1e6:g} MB limit",
                "Load large data inside the function (from a file) rather than holding it, "
                "or raise max_args_size=.",
            )
        with _by_value(self.function):  # the arguments may hold objects of its module
            files = encode_arguments(args, kwargs, "pickle", max_args_size)
        # The same bytes object for every call: the store writes it once and links it.
        files[pyexec.FUNCTION_PICKLE] = function
        return TaskSpec(
            command=(self.name,),
            kind="call",
            files=files,
            payload={"function": "pickled"},
            **options,
        )


def call_specs(
    target: FunctionTarget,
    calls: Sequence[Call],
    *,
    max_args_size: int = DEFAULT_MAX_ARGS_SIZE,
    **options: Any,
) -> list[TaskSpec]:
    """One spec per call, all sharing the target's way to the node."""
    return [target.spec(args, kwargs, max_args_size, **options) for args, kwargs in calls]


def call_rows(
    function: str | Callable[..., Any], calls: Sequence[Call]
) -> list[dict[str, DataValue]]:
    """Each call's arguments by parameter name, as a bundle keeps them (its sweep's inputs).

    Positional arguments are named from the function's signature when it has
    one (else `arg0`, `arg1`...); values that are not plain scalars are kept
    as a short text, since a row is for reading, not for running.
    """
    signature = _signature(function)
    rows = []
    for args, kwargs in calls:
        named: dict[str, Any] = {}
        bound = None
        if signature is not None:
            try:
                bound = signature.bind_partial(*args, **kwargs)
            except TypeError:
                bound = None
        if bound is not None:
            for name, value in bound.arguments.items():
                kind = signature.parameters[name].kind if signature else None
                if kind == inspect.Parameter.VAR_KEYWORD:
                    named.update(value)
                elif kind == inspect.Parameter.VAR_POSITIONAL:
                    named.update({f"{name}{i}": v for i, v in enumerate(value)})
                else:
                    named[name] = value
        else:
            named = {f"arg{i}": v for i, v in enumerate(args)} | dict(kwargs)
        rows.append({k: shown_value(v) for k, v in named.items()})
    return rows


def shown_value(value: Any) -> DataValue:
    """A value as a bundle row holds it: plain scalars as they are, anything else as short text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    text = repr(value)
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 1] + "…"


def _signature(function: str | Callable[..., Any]) -> inspect.Signature | None:
    if isinstance(function, str):
        return None
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _target_name(function: str | Callable[..., Any]) -> str:
    if isinstance(function, str):
        return function
    if not callable(function):
        raise InvalidInputError(
            f"{type(function).__name__} object is not callable",
            "Give a function, or its name as 'module:function'.",
        )
    module = getattr(function, "__module__", None) or "__main__"
    qualname = getattr(function, "__qualname__", None) or type(function).__name__
    return f"{module}:{qualname}"


def _named_importably(function: Callable[..., Any]) -> bool:
    """Whether the function has a module-level name another process could import."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    return module not in (None, "__main__") and "<" not in qualname and inspect.isfunction(function)


def _probe(root: Root, cwd: Path, environment: str | None) -> Callable[[str], bool]:
    """Whether `module:function` imports where the task runs (one subprocess, as the task would)."""

    def importable(name: str) -> bool:
        try:
            check_target(name, cwd, environment, root)
        except InvalidInputError:
            return False
        return True

    return importable


def _plain(args: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
    try:
        pyexec.tag_floats([list(args), dict(kwargs)])
    except TypeError:
        return False
    return True


@contextmanager
def _by_value(function: Any) -> Iterator[None]:
    """Pickle the function's own module by value while encoding, when it cannot be imported there.

    cloudpickle pickles functions of importable modules by reference; a module
    the node cannot import (a test file, a script run as a module) must travel
    whole, with the function.
    """
    import cloudpickle

    module = sys.modules.get(getattr(function, "__module__", "") or "")
    registered = False
    if module is not None and module.__name__ not in ("__main__", "builtins"):
        try:
            cloudpickle.register_pickle_by_value(module)
            registered = True
        except ValueError:
            registered = False
    try:
        yield
    finally:
        if registered and module is not None:
            cloudpickle.unregister_pickle_by_value(module)
