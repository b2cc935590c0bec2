"""The windows-hpc driver's guide page, run against the stand-in portal as a reader would.

The local test of the guide (tests/test_doc_examples.py) leaves out the blocks
marked `needs windows-hpc`; here they run too. A prelude does what only this
test world needs: it points the project at the stand-in (its address, the
share it plays, the runner of its Linux nodes) and stores the reader's
credentials, which the page shows as an interactive session.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from hpc_portal.testing import running_standin
from windows_hpc.helpers import PASSWORD, USER

from doc_examples import GUIDE, read_page, run_page
from hipercow_testing import BIN, kill_processes_under

pytestmark = pytest.mark.portal


def python_module(modulefiles: Path) -> Path:
    """A modulefile for the Python module the stand-in's nodes offer: this Python first on PATH."""
    module = modulefiles / "Python" / "3.11.9-GCCcore-13.3.0.lua"
    module.parent.mkdir(parents=True)
    module.write_text(f'prepend_path("PATH", "{BIN}")\n')
    return modulefiles


def test_the_windows_hpc_guide_page_runs_against_the_stand_in(tmp_path: Path) -> None:
    page = read_page(GUIDE / "drivers" / "windows-hpc.md")
    assert any(b.needs == "windows-hpc" for b in page.blocks)
    workdir = tmp_path / "run"  # the share: the reader's project is in it
    config = {
        "users": {USER: {"password": PASSWORD}},
        "timings": {"queued": 0.05, "running": 0.2, "outcome": "Finished"},
        "mounts": {"/mnt/cluster": str(workdir)},
        "windows_shares": {"\\\\wpia-hn\\hipercow": str(workdir)},
        # The nodes' Python comes from the environment module the driver loads, as on
        # the real cluster (the nodes here have Lmod: the Slurm cluster tool installs it).
        "job_env": {"MODULEPATH": str(python_module(tmp_path / "modulefiles"))},
    }
    with running_standin(config) as portal:
        options = [
            f"portal_url={portal.url}",
            f"shares={workdir}=//wpia-hn/hipercow:V",
            "detect_shares=false",
            f"linux_runner={sys.executable} -m hipercow_core.run",
            "python_version=3.11",
            "max_poll_interval=0.2",
        ]
        prelude = "\n".join(
            [
                "hipercow init",
                shlex.join(["hipercow", "driver", "configure", "windows-hpc", *options]),
                f"echo {shlex.quote(PASSWORD)} | hipercow windows-hpc authenticate set"
                f" --username {USER}",
            ]
        )
        try:
            run_page(page, workdir, provides=("windows-hpc",), prelude=prelude + "\n")
        finally:
            kill_processes_under(workdir)
    assert len(portal.jobs()) == 1
