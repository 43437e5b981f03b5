"""The notebooks: committed without outputs, and each runs top to bottom in quick mode."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from fieldlab import plot

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
# One notebook in quick mode takes under a minute on two CPU cores; the limit leaves room.
CELL_TIMEOUT_S = 300


def _id(path: Path) -> str:
    return path.stem


def test_the_notebooks_are_there():
    names = [p.name for p in PATHS]
    assert {"01_field_lines.ipynb", "03_superposition.ipynb", "04_negative_charges.ipynb"} <= set(
        names
    )


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_committed_notebook_has_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "widgets" not in notebook.metadata


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_notebook_opens_with_a_title_and_reads_quick_mode(path):
    notebook = nbformat.read(path, as_version=4)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "plot.choose(" in "".join(c.source for c in notebook.cells if c.cell_type == "code")
    prose = sum(len(c.source) for c in notebook.cells if c.cell_type == "markdown")
    assert prose > 1000


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_notebook_runs_top_to_bottom_in_quick_mode(path, tmp_path, monkeypatch):
    # The kernel inherits this process's environment. One torch thread: on a small shared
    # runner torch's thread pool oversubscribes the cores and runs many times slower.
    monkeypatch.setenv(plot.QUICK_ENV, "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    # execute() raises at the first failing cell; what ran must also have drawn pictures.
    shown = [
        mime
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        for mime in output.get("data", {})
    ]
    assert "image/png" in shown
