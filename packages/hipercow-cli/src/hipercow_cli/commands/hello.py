"""`hipercow hello`: a small task through the driver, checked line by line (✔/✖)."""

from __future__ import annotations

from typing import Annotated

import msgspec
import typer

from hipercow_cli import output
from hipercow_cli.options import Driver, Json
from hipercow_core.root import Root


def mark(ok: bool) -> str:
    """✔ (green) or ✖ (red); plain when not at a terminal."""
    sign, colour = ("✔", 32) if ok else ("✖", 31)
    return f"\x1b[{colour}m{sign}\x1b[0m" if output.colour_enabled() else sign


def hello(
    driver: Driver = None,
    queue: Annotated[str | None, typer.Option(help="Queue or partition to try.")] = None,
    cores: Annotated[int, typer.Option(help="Cores to ask for.")] = 1,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600,
    as_json: Json = False,
) -> None:
    """Run a small task on the cluster and check the node: versions, cores, memory, the root.

    Exits 1 when a check fails (✖), e.g. a node that cannot write to the root.
    """
    from hipercow_core.hello import hello as run_hello

    root = Root.find()
    with output.spinner("Running a hello task"):
        found = run_hello(root, driver=driver, queue=queue, cores=cores, timeout=timeout)
    if as_json:
        output.emit_json({**msgspec.to_builtins(found), "ok": found.ok})
    else:
        output.out(f"hello task {found.task_id} on driver {found.driver or '-'}")
        width = max(len(c.name) for c in found.checks)
        for check in found.checks:
            output.out(f"{mark(check.ok)} {check.name:<{width}}  {check.detail}")
    if not found.ok:
        raise typer.Exit(1)
