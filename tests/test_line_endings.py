"""Line endings a checkout gives the scripts that run on cluster nodes.

A Windows checkout with `core.autocrlf=true` would turn the shell templates'
endings into CRLF; `.gitattributes` pins them to LF (and batch files to CRLF).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


def eol(path: str) -> str:
    done = subprocess.run(
        ["git", "check-attr", "eol", "--", path],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().rsplit(": ", 1)[-1]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to read .gitattributes")
def test_shell_templates_keep_lf_and_batch_templates_crlf_in_any_checkout() -> None:
    shells = sorted(CHECKOUT.glob("packages/*/src/*/templates/*.sh"))
    batches = sorted(CHECKOUT.glob("packages/*/src/*/templates/*.bat"))
    assert shells and batches
    for script in shells:
        assert eol(str(script.relative_to(CHECKOUT))) == "lf", script
    for script in batches:
        assert eol(str(script.relative_to(CHECKOUT))) == "crlf", script
