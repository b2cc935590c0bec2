"""Drives the earlier hipercow (0.2.4) through its Python API; run by *its* interpreter.

The harness runs in this workspace's environment, where the old `hipercow`
package is not installed, so whatever needs the old API is done by running
this file with the throwaway venv's Python:

    python old_api.py populate PROJECT COUNT   # COUNT shell tasks, created, not submitted
    python old_api.py run PROJECT TASK_ID      # run a task in-process, as a worker would

`populate` exists because creating 10,000 tasks through the old CLI costs
about a second each. It imports only the standard library and the old package
(through importlib, since mypy checks this file where that package is absent).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

COMMAND = ["echo", "hi"]


def _old(module: str) -> Any:
    return importlib.import_module(f"hipercow.{module}")


def populate(project: Path, count: int) -> None:
    """Create `count` shell tasks; with no driver configured they stay `created`."""
    root = _old("root").open_root(project)
    create = _old("task_create").task_create_shell
    for _ in range(count):
        create(list(COMMAND), root=root)


def run(project: Path, task_id: str) -> None:
    """Run a created or submitted task to completion, leaving it `success` or `failure`."""
    root = _old("root").open_root(project)
    _old("task_eval").task_eval(task_id, capture=True, root=root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="old_api.py")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("populate")
    p.add_argument("project", type=Path)
    p.add_argument("count", type=int)
    r = commands.add_parser("run")
    r.add_argument("project", type=Path)
    r.add_argument("task_id")
    args = parser.parse_args(argv)
    if args.command == "populate":
        populate(args.project, args.count)
    else:
        run(args.project, args.task_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
