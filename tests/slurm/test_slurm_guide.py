"""The Slurm driver's guide page, run on the real cluster as a reader would run it.

The local test of the guide (tests/test_doc_examples.py) leaves out the blocks
marked `needs slurm`; here they run too, so the page cannot rot.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from slurm.cluster import cluster_access
from slurm.helpers import cancel_jobs_of

from doc_examples import GUIDE, read_page, run_page
from hipercow_core.root import Root
from hipercow_testing import kill_processes_under


@pytest.mark.timeout(600)
def test_the_slurm_guide_page_runs_on_the_cluster(tmp_path: Path) -> None:
    page = read_page(GUIDE / "drivers" / "slurm.md")
    assert any(b.needs == "slurm" for b in page.blocks)
    workdir = tmp_path / "run"
    with cluster_access(exclusive=False):
        try:
            run_page(page, workdir, provides=("slurm",))
        finally:
            project = workdir / "my-project"
            if (project / "hipercow").is_dir():
                cancel_jobs_of(Root(project))
            kill_processes_under(workdir)
