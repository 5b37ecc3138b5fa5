"""Shared fixtures."""

from __future__ import annotations

import os

import pytest

# Plots render off screen: the napari tests start an Xvfb display, and pyplot must not follow it to Qt.
os.environ.setdefault("MPLBACKEND", "Agg")

from vibmag.io.photron import write_photron


@pytest.fixture
def photron_writer(tmp_path):
    """Write counts (time, y, x[, 3]) as a Photron .cih + .mraw pair in tmp_path; return the header path.

    Keywords: ``bits``, ``record_rate`` (default 1000 Hz), ``name``, ``side``,
    ``effective``, ``save_step``.
    """

    def write(counts, *, bits, name="rec", side="Lower", effective=None, record_rate=1000.0, save_step=1):
        return write_photron(tmp_path / f"{name}.cih", counts, record_rate=record_rate, bits=bits, save_step=save_step, effective_bits=effective, effective_side=side)

    return write
