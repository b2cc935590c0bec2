"""`hipercow configuration`: this setup in one block, to paste into a request for help."""

from __future__ import annotations

from hipercow_cli import output
from hipercow_cli.options import Json


def configuration(as_json: Json = False) -> None:
    """Versions, drivers and their options (no secrets), shares, environments, keyring, caches."""
    from hipercow_core.configuration import configuration as describe
    from hipercow_core.errors import RootNotFoundError
    from hipercow_core.root import Root

    try:
        root: Root | None = Root.find()
    except RootNotFoundError:
        root = None
    sections = describe(root)
    if as_json:
        output.emit_json({s.title: s.items for s in sections})
        return
    lines = []
    for section in sections:
        lines.append(f"[{section.title}]")
        width = max((len(k) for k in section.items), default=0)
        lines.extend(f"  {k:<{width}}  {v}" for k, v in section.items.items())
    output.out("\n".join(lines))
