"""Strip outputs and execution counts from the notebooks, so git stores only their sources.

Usage: ``python notebooks/strip_outputs.py [NOTEBOOK ...]`` (default: every notebook here).
``tests/test_notebooks.py`` fails on a notebook stored with outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def strip(path: Path) -> bool:
    """Strip one notebook in place; return whether it changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count, changed = [], None, True
        for key in ("execution", "collapsed", "scrolled"):
            changed |= cell.metadata.pop(key, None) is not None
    if changed:
        nbformat.write(nb, path)
    return changed


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted(Path(__file__).parent.glob("*.ipynb"))
    for path in paths:
        print(f"{path}: {'stripped' if strip(path) else 'clean'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
