"""Strip outputs, execution counts and run metadata from notebooks, in place.

Usage: python tools/strip_notebooks.py [NOTEBOOK ...]   (default: notebooks/*.ipynb)

Committed notebooks carry no outputs: they are executed in CI instead (tests/test_notebooks.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# Cell metadata written by running a notebook, not by its author.
RUN_METADATA = ("execution", "collapsed", "scrolled")


def strip(path: Path) -> bool:
    """Strip one notebook; True if it changed."""
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    before = nbformat.writes(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
    notebook.metadata.pop("widgets", None)
    after = nbformat.writes(notebook)
    if after != before:
        path.write_text(after + "\n" if not after.endswith("\n") else after, encoding="utf-8")
    return after != before


def main(paths: list[str]) -> int:
    targets = [Path(p) for p in paths] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in targets:
        if strip(path):
            sys.stdout.write(f"stripped {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
