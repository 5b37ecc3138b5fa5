"""The notebooks in notebooks/ run top to bottom from a clean folder, and are stored without outputs.

Each notebook is executed with nbclient in a fresh kernel (this environment's
Python) with a temporary working directory, so whatever it writes lands there;
any cell error fails the test with the cell's traceback. The notebooks load the
shipped magnifier weights (``vibmag/models/flowmag.pt``) as written.
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"]
    assert not errors, json.dumps(errors[0], indent=1)[:2000]
    print(f"{path.name}: {seconds:.1f} s")
