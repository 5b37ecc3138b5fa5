"""The shipped weights' training command reproduces the logged run (slow: builds the pool and trains 200 steps)."""

import csv
from pathlib import Path

import pytest

from vibmag.magnification import load_model
from vibmag.magnification.train import main

LOG = Path(__file__).resolve().parents[1] / "docs" / "training" / "flowmag_log.csv"


def _held_out(path: Path) -> dict[int, float]:
    with path.open() as fh:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(fh) if r["split"] == "val"}


@pytest.mark.slow
def test_shipped_training_command_reproduces_the_logged_held_out_loss(tmp_path):
    shipped = load_model().metadata["command"].split()
    argv = shipped[2:]  # drop "vibmag train"
    argv[argv.index("--output-dir") + 1] = str(tmp_path)
    argv[argv.index("--steps") + 1] = "200"
    assert main([*argv, "--threads", "2", "--print-every", "0"]) == 0
    logged, rerun = _held_out(LOG), _held_out(tmp_path / "log.csv")
    for step in (0, 100, 200):
        assert rerun[step] == pytest.approx(logged[step], rel=1e-3), step
