"""What a package that adds commands to `hipercow` may use of the CLI: this module only.

A package adds commands by registering a `typer.Typer` under the
`hipercow.cli` entry point group, e.g. in its pyproject.toml:

    [project.entry-points."hipercow.cli"]
    example = "hipercow_example.commands:app"

The name is the sub-command (`hipercow example ...`). The module is
imported only when that sub-command runs or when `hipercow --help` lists
every command, so it should import little at the top and load the rest
inside its commands. Its commands parse options, call a library and render
the answer with the helpers below; errors are raised as
`hipercow_core.errors.HipercowError` (message and hint), which the
`hipercow` command turns into two lines and exit code 1 (`report`), so a
command never prints its own "Error:" line.

Values for shell completion (`task_ids`, `bundle_names`, `environment_names`,
`driver_names`, `engines`, `statuses`, `queues`) go in a parameter's `autocompletion=`.

Everything else in `hipercow_cli` (`output`, `options`, `commands.*`) may
change without notice; these names are kept stable.
"""

from __future__ import annotations

from hipercow_cli.completion import (
    bundle_names,
    driver_names,
    engines,
    environment_names,
    queues,
    statuses,
    task_ids,
)
from hipercow_cli.errors import report, want_traceback
from hipercow_cli.options import (
    Driver,
    Json,
    given_resource_fields,
    parse_pairs,
    with_resource_options,
    with_secret_options,
)
from hipercow_cli.output import (
    colour_enabled,
    console,
    emit_json,
    emit_json_value,
    err,
    failed,
    out,
    print_table,
    progress,
    show_command,
    show_duration,
    show_seconds,
    show_time,
    spinner,
    status_text,
    styled,
    success,
    table,
    warn,
)

__all__ = [
    "Driver",
    "Json",
    "bundle_names",
    "colour_enabled",
    "console",
    "driver_names",
    "emit_json",
    "emit_json_value",
    "engines",
    "environment_names",
    "err",
    "failed",
    "given_resource_fields",
    "out",
    "parse_pairs",
    "print_table",
    "progress",
    "queues",
    "report",
    "show_command",
    "show_duration",
    "show_seconds",
    "show_time",
    "spinner",
    "status_text",
    "statuses",
    "styled",
    "success",
    "table",
    "task_ids",
    "want_traceback",
    "warn",
    "with_resource_options",
    "with_secret_options",
]
