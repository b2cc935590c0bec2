"""The package test suites of core and the CLI, run by pytest inside Windows CPython.

These are the same tests Linux runs (packages/*/tests), each file in one
Windows pytest run: the store and its atomic and write-once files, bulk data,
bundles, dependencies, retries, resources, secrets, file locks and processes (the Windows
branch for real), and the CLI's output. Tests that only mean something on
POSIX skip there with their reason; the count of those is printed.
"""

from __future__ import annotations

import re

import pytest
import windows_python
from windows.wine import WinPython

#: Files that make sense on Windows. Left out: test_cli_composition (builds a second
#: uv environment with the provision package, which the Windows interpreter lacks),
#: test_cli_tasks and test_cli_bundles (their tasks are POSIX commands: `sh`, `sleep`;
#: tests/windows/test_windows_cli.py runs the same paths with Windows programs).
SUITES = (
    "packages/hipercow-core/tests/test_store.py",
    "packages/hipercow-core/tests/test_fsutil.py",
    "packages/hipercow-core/tests/test_file_locks.py",
    "packages/hipercow-core/tests/test_bulk.py",
    "packages/hipercow-core/tests/test_bundle_tasks.py",
    "packages/hipercow-core/tests/test_dependencies.py",
    "packages/hipercow-core/tests/test_index.py",
    "packages/hipercow-core/tests/test_jobs.py",
    "packages/hipercow-core/tests/test_processes.py",
    "packages/hipercow-core/tests/test_resources.py",
    "packages/hipercow-core/tests/test_retry.py",
    "packages/hipercow-core/tests/test_secrets.py",
    "packages/hipercow-core/tests/test_templates.py",
    "packages/hipercow-cli/tests/test_cli_output.py",
    "packages/hipercow-cli/tests/test_cli_drivers.py",
)
#: Tests of those files that need a package the Windows interpreter lacks.
NOT_HERE = {
    "packages/hipercow-cli/tests/test_cli_output.py": (
        "test_a_piped_table_keeps_whole_lines",  # `hipercow environment` is hipercow-provision's
    ),
}


@pytest.mark.parametrize("suite", SUITES)
def test_suite_passes_on_windows(winpy: WinPython, suite: str) -> None:
    checkout = windows_python.CHECKOUT
    deselected = [f"--deselect={suite}::{name}" for name in NOT_HERE.get(suite, ())]
    done = winpy.run(
        *("-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *deselected, suite),
        cwd=checkout,
        timeout=300,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    print(f"{suite} under Windows: {summary}")
    assert done.code == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", summary), summary
