"""`hipercow driver ...` and `hipercow cluster info` with the local driver."""

from __future__ import annotations

import json
import os
import re

from hipercow_cli_testing import Run

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_configure_list_show_and_unconfigure(piped: Run) -> None:
    assert piped("driver", "configure", "local", "max_cores=1").stdout.startswith(
        "✔ Configured driver 'local' for "
    )
    listed = json.loads(piped("driver", "list", "--json").stdout)
    assert {"name": "local", "configured": True, "default": True} in listed
    shown = json.loads(piped("driver", "show", "--json").stdout)
    assert shown["name"] == "local" and shown["options"]["max_cores"] == 1
    assert piped("driver", "unconfigure", "local").stdout.startswith("✔ Removed driver 'local'")
    assert piped("driver", "unconfigure", "local").stdout.startswith("Driver 'local' was not")


def test_a_bad_driver_option_is_one_error(piped: Run) -> None:
    done = piped("driver", "configure", "local", "max_cores")
    assert done.code == 1
    assert done.stderr.startswith("Error: option 'max_cores' is not of the form NAME=VALUE\n")


def test_cluster_info_draws_its_tables_at_a_terminal(terminal: Run) -> None:
    done = terminal("cluster", "info")
    assert done.code == 0
    assert "\x1b[1m" in done.stdout  # the cluster's name in bold
    text = ANSI.sub("", done.stdout)
    assert "(local driver): up to" in text
    assert re.search(r"^node\s+cores\s+memory\s+state", text, re.MULTILINE)
    cores = json.loads(terminal("cluster", "info", "--json").stdout)["max_cores"]
    assert 1 <= cores <= (os.cpu_count() or 1)
