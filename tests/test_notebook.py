"""A notebook, executed headless by a real Jupyter kernel (nbclient, ipykernel), uses the executor.

It defines a function in a cell (so it lives in the kernel's `__main__` and
must travel by value), maps it over 20 inputs, and shows the bundle, whose
HTML table is what a scientist would see under the cell.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from hipercow_core.root import Root

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

CELLS = [
    "from hipercow_core import HipercowExecutor",
    "def cube(x):\n    return x ** 3",
    "executor = HipercowExecutor()\n"
    "results = executor.map(cube, range(20), name='cubes')\n"
    "values = list(results)\n"
    "values",
    "results.bundle",
    "results.bundle.results()",
]


def test_a_notebook_maps_a_cell_function_and_shows_the_bundle_table(
    project: Root, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [nbformat.v4.new_code_cell(code) for code in CELLS]  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(project.project)}},
    )
    client.execute()

    values = notebook.cells[2].outputs[0]["data"]["text/plain"]
    assert ast.literal_eval(values) == [x**3 for x in range(20)]
    bundle = notebook.cells[3].outputs[0]["data"]
    assert bundle["text/plain"] == "<Bundle cubes: 20 tasks (20 success)>"
    page = bundle["text/html"]
    assert "<strong>bundle cubes</strong>: 20 tasks" in page
    assert page.count(">success</span>") == 21  # the counts line, then one per task
    assert page.count("<tr>") == 21  # the header and 20 tasks
    results = notebook.cells[4].outputs[0]["data"]["text/html"]
    assert "<th" in results and ">x</th>" in results and ">6859<" in results
