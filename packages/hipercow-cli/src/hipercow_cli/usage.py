"""Showing what tasks used: one line for `task info`, a table for `bundle status --usage`."""

from __future__ import annotations

from hipercow_cli.output import show_seconds
from hipercow_core.schema import Resources, Usage
from hipercow_core.usage import UsageTotal, cpu_share, requested_memory


def show_bytes(value: int) -> str:
    """Sizes as `cluster info` gives them, in the units of 1000: 300 MB, 1.2 GB."""
    if value >= 1_000_000_000:
        return f"{value / 1e9:.1f} GB"
    if value >= 1_000_000:
        return f"{value / 1e6:.0f} MB"
    return f"{value / 1e3:.0f} kB"


def show_share(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f} %"


def usage_line(usage: Usage, resources: Resources) -> str:
    """'CPU 3m20s (83 % of 4 cores), peak memory 1.2 GB of 4.0 GB requested'."""
    cores = f"{usage.cores} core{'' if usage.cores == 1 else 's'}"
    line = f"CPU {show_seconds(usage.cpu_seconds)} ({show_share(cpu_share(usage))} of {cores})"
    line += f", peak memory {show_bytes(usage.peak_memory)}"
    asked = requested_memory(resources.memory_per_task, resources.memory_per_node)
    if asked is not None:
        line += f" of {show_bytes(asked)} requested"
    return line


def usage_row(usage: Usage | None) -> list[str]:
    """CPU, wall, cores, CPU share and peak memory of one task ('-' where nothing was recorded)."""
    if usage is None:
        return ["-"] * 5
    return [
        show_seconds(usage.cpu_seconds),
        show_seconds(usage.wall_seconds),
        str(usage.cores),
        show_share(cpu_share(usage)),
        show_bytes(usage.peak_memory),
    ]


def total_row(found: UsageTotal) -> list[str]:
    return [
        show_seconds(found.cpu_seconds),
        show_seconds(found.wall_seconds),
        "",
        show_share(found.cpu_share),
        show_bytes(found.peak_memory) if found.tasks else "-",
    ]
