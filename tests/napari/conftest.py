"""Fixtures of the napari plugin tests; the whole folder is skipped where napari or Qt is not installed.

The viewer tests need a display: pytest-xvfb (dev extra) starts an Xvfb
server for the session, so they run with or without an existing DISPLAY.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

if not all(importlib.util.find_spec(name) for name in ("napari", "qtpy", "pytestqt")):
    collect_ignore_glob = ["test_*.py"]

#: The clip every widget test magnifies and inspects: one rigid mode along y.
CLIP_HZ = 50.0
CLIP_AMPLITUDE = 0.15  # px
CLIP_RATE = "400 Hz"


@pytest.fixture(scope="session")
def mode():
    """The clip's mode: (frequency Hz, amplitude px)."""
    return CLIP_HZ, CLIP_AMPLITUDE


@pytest.fixture(scope="session")
def clip():
    """A short synthetic recording: 32 frames of 64 x 64 px at 400 Hz, moving 0.15 px along y at 50 Hz."""
    from vibmag.synthetic import Mode, vibrating_plate

    return vibrating_plate((64, 64), n_frames=32, frame_rate=CLIP_RATE, modes=[Mode(f"{CLIP_HZ} Hz", CLIP_AMPLITUDE, direction=90)],
                           noise=0.002, seed=3).drop_vars("true_displacement")


@pytest.fixture
def clip_layer(clip):
    """The clip as a napari Image layer (no viewer), as the reader would make it."""
    from napari.layers import Layer

    from vibmag.napari._layers import layer_data_tuple

    return Layer.create(*layer_data_tuple(clip, "clip"))


@pytest.fixture
def centre_box():
    """The rectangle (y0, x0, y1, x1) = (16, 16, 48, 48) as napari rectangle vertices (y, x)."""
    return np.array([[16.0, 16.0], [16.0, 48.0], [48.0, 48.0], [48.0, 16.0]])
