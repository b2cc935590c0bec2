"""`hipercow driver ...` and `hipercow cluster info`: which cluster, and what it offers."""

from __future__ import annotations

from typing import Annotated

import msgspec
import typer

from hipercow_cli import completion, output
from hipercow_cli.options import Driver, Json, parse_pairs
from hipercow_core.drivers import registry
from hipercow_core.root import Root, hostname

app = typer.Typer(
    help="Choose and configure the cluster driver for this machine.", no_args_is_help=True
)
cluster_app = typer.Typer(help="What the cluster offers.", no_args_is_help=True)

DriverName = Annotated[
    str,
    typer.Argument(
        help="Driver name, e.g. local, slurm, windows-hpc.",
        autocompletion=completion.driver_names,
    ),
]


@app.command("configure")
def configure(
    name: DriverName,
    options: Annotated[
        list[str] | None, typer.Argument(help="Driver options as KEY=VALUE.", show_default=False)
    ] = None,
    as_json: Json = False,
) -> None:
    """Configure a driver for this machine and make it the default.

    Example: hipercow driver configure local max_cores=4
    """
    entry = registry.configure_driver(Root.find(), name, parse_pairs(options, "option"))
    if as_json:
        output.emit_json(entry)
    else:
        output.success(f"Configured driver '{name}' for {hostname()}")


@app.command("unconfigure")
def unconfigure(name: DriverName) -> None:
    """Remove a driver's configuration for this machine."""
    if registry.unconfigure_driver(Root.find(), name):
        output.success(f"Removed driver '{name}' for {hostname()}")
    else:
        output.out(f"Driver '{name}' was not configured for {hostname()}")


@app.command("list")
def list_(as_json: Json = False) -> None:
    """Drivers installed, and which are configured on this machine."""
    config = Root.find().machine_config()
    configured = {e.name for e in config.drivers}
    default = registry.configured_entry(config, None).name
    rows = [
        {"name": name, "configured": name in configured, "default": name == default}
        for name in registry.available_drivers()
    ]
    if as_json:
        output.emit_json(rows)
        return
    for row in rows:
        notes = [
            n
            for n, flag in (("configured", row["configured"]), ("default", row["default"]))
            if flag
        ]
        output.out(f"{row['name']:<12} {', '.join(notes)}".rstrip())


@app.command("show")
def show(
    name: Annotated[
        str | None,
        typer.Argument(
            help="Driver (default: the default one).", autocompletion=completion.driver_names
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """A driver's configuration on this machine."""
    root = Root.find()
    entry = registry.configured_entry(root.machine_config(), name)
    factory = registry.load_driver_class(entry.name)
    options = msgspec.to_builtins(registry.parse_options(factory, entry.options))
    if as_json:
        output.emit_json({"name": entry.name, "host": hostname(), "options": options})
        return
    output.out(f"driver  {entry.name} (on {hostname()})")
    for key, value in options.items():
        output.out(f"  {key} = {value}")


@cluster_app.command("info")
def info(driver: Driver = None, as_json: Json = False) -> None:
    """Queues, nodes, cores, memory and software of the cluster."""
    from hipercow_core.drivers.registry import get_driver

    cluster = get_driver(Root.find(), driver).fresh_cluster_info()
    if as_json:
        output.emit_json(cluster)
        return
    c = output.console()
    c.print(
        f"[bold]{cluster.name}[/] ({cluster.driver} driver): up to {output.count(cluster.max_cores, 'core')} "
        f"and {cluster.max_memory / 1000:g} GB per node"
    )
    if cluster.queues:
        queues = output.table("queue", "default", "time limit", "nodes")
        for q in cluster.queues:
            limit = "unlimited" if q.max_runtime is None else f"{q.max_runtime} min"
            queues.add_row(q.name, "yes" if q.default else "", limit, ",".join(q.nodes))
        c.print(queues)
    if cluster.nodes:
        nodes = output.table("node", "cores", "memory", "state")
        for n in cluster.nodes:
            nodes.add_row(n.name, str(n.cores), f"{n.memory / 1000:g} GB", n.state)
        c.print(nodes)
    if cluster.software:
        software = output.table("software", "version", "platform")
        for s in cluster.software:
            software.add_row(s.name, s.version, s.platform or "")
        c.print(software)
    for key, value in cluster.extra.items():
        c.print(f"{key}: {value}")
