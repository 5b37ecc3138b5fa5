"""The notebooks in notebooks/ run top to bottom from a clean folder, and are stored without outputs.

Each notebook is executed with nbclient in a fresh kernel (this environment's
Python) with a temporary working directory, so whatever it writes lands there;
any cell error fails the test with the cell's traceback. Each runs twice in a
row in the same folder, as a user reruns one in place: a notebook writes only
into ``outputs/<notebook>/``, which it empties first, so the second run must
pass as the first did and nothing may be left beside that folder. The notebooks
load the shipped magnifier weights (``vibmag/models/flowmag.pt``) as written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbclient  # the dev extra installs nbclient, nbformat and ipykernel
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
#: Seconds one notebook may take (they take well under a minute each on 2 cores).
CELL_TIMEOUT = 600


def test_there_are_notebooks():
    names = [path.stem[:2] for path in NOTEBOOKS]
    assert {"01", "02", "03", "04"} <= set(names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    """Outputs stay out of git: strip them with ``python notebooks/strip_outputs.py``."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run python notebooks/strip_outputs.py"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def _execute(path: Path, folder: Path) -> float:
    """Run the notebook top to bottom in a fresh kernel with ``folder`` as its working directory; seconds taken."""
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"]
    assert not errors, json.dumps(errors[0], indent=1)[:2000]
    return seconds


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
    for run in ("first", "second"):  # a rerun in the same folder finds the first run's outputs
        seconds = _execute(path, tmp_path)
        print(f"{path.name}, {run} run: {seconds:.1f} s")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert set(left) <= {"outputs"}, f"{path.name} wrote {left} beside outputs/"
        written = sorted(p.name for p in (tmp_path / "outputs").iterdir()) if left else []
        assert set(written) <= {path.stem}, f"{path.name} wrote {written} in outputs/, not only outputs/{path.stem}/"
