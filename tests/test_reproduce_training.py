"""The shipped weights' training command reproduces the logged run (slow: builds the pool and its targets, trains one evaluation period)."""

import csv
from pathlib import Path

import pytest

from vibmag.magnification import load_model
from vibmag.magnification.train import main

LOG = Path(__file__).resolve().parents[1] / "docs" / "training" / "flowmag_log.csv"


def _held_out(path: Path) -> dict[int, tuple[float, float | None]]:
    """{step: (held-out loss, error against the exact renders or None)}."""
    with path.open() as fh:
        return {int(r["step"]): (float(r["loss"]), float(r["truth_error"]) if r.get("truth_error") else None)
                for r in csv.DictReader(fh) if r["split"] == "val"}


@pytest.mark.slow
def test_shipped_training_command_reproduces_the_logged_held_out_loss(tmp_path):
    shipped = load_model().metadata["command"].split()
    argv = shipped[2:]  # drop "vibmag train"
    argv[argv.index("--output-dir") + 1] = str(tmp_path)
    first = int(argv[argv.index("--epoch-steps") + 1])
    argv[argv.index("--steps") + 1] = str(first)
    assert main([*argv, "--threads", "2", "--print-every", "0"]) == 0
    logged, rerun = _held_out(LOG), _held_out(tmp_path / "log.csv")
    for step in (0, first):
        assert rerun[step][0] == pytest.approx(logged[step][0], rel=1e-3), step
        if logged[step][1] is not None:
            assert rerun[step][1] == pytest.approx(logged[step][1], rel=1e-3), step
