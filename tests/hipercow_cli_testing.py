"""Running `hipercow` in-process with click's test runner, at a terminal or piped.

`run` goes through `hipercow_cli.main.main`, the console script's own entry
point, so what a test sees is what a user sees: the exit code, stdout and
stderr, with error reporting included. At a "terminal" both streams say they
are one, so colours, spinners and progress bars are drawn as for a person.
Used by the CLI package's own tests (packages/hipercow-cli/tests).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

from click.testing import CliRunner

from hipercow_cli.main import main


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


class Run(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


class TerminalRunner(CliRunner):
    """A runner whose stdout and stderr answer `isatty()` with True, as a terminal does."""

    @contextlib.contextmanager
    def isolation(
        self,
        input: str | bytes | IO[Any] | None = None,
        env: Mapping[str, str | None] | None = None,
        color: bool = False,
    ) -> Iterator[Any]:
        with super().isolation(input, env, color) as streams:
            for stream in (sys.stdout, sys.stderr):
                stream.isatty = lambda: True  # type: ignore[method-assign]
            yield streams


def _plain(raw: bytes) -> str:
    """Captured output with Windows line ends (text streams there write CRLF) made plain."""
    return raw.decode().replace("\r\n", "\n")


def in_process(*, terminal: bool) -> Run:
    """`hipercow ARGS...` run by `main`, returning what it printed and its exit code."""
    runner = TerminalRunner() if terminal else CliRunner()
    # A terminal 100 columns wide that rich will draw on, or a pipe with no width
    # at all; NO_COLOR and the like from the caller's shell must not leak in.
    env: dict[str, str | None] = {
        "NO_COLOR": None,
        "FORCE_COLOR": None,
        "HIPERCOW_TRACEBACK": None,
        "TERM": "xterm-256color" if terminal else "dumb",
        "COLUMNS": "100" if terminal else None,
        "LINES": None,
    }

    def run(*args: str, input: str | None = None) -> Result:
        with runner.isolation(input=input, env=env, color=terminal) as (out, err, _):
            try:
                main(list(args))
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            sys.stdout.flush()
            sys.stderr.flush()
            return Result(code, _plain(out.getvalue()), _plain(err.getvalue()))

    return run
