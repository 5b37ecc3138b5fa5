"""Fixtures of the napari plugin tests; the whole folder is left out where napari, qtpy or pytest-qt is not
installed, except under CI (the environment variable CI set, as .ci/run does), where that is a collection error.

The viewer tests need an X display for napari's OpenGL canvas: :func:`display`
starts a private Xvfb server (Mesa renders) before the QApplication is made,
whether or not a DISPLAY exists, and stops it at the end of the session. It
is started here, only for these tests, rather than for every test (as
pytest-xvfb does): with a DISPLAY set, matplotlib's pyplot elsewhere in the
suite would pick its Qt backend.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time

import numpy as np
import pytest

_missing = [name for name in ("napari", "qtpy", "pytestqt") if importlib.util.find_spec(name) is None]
if _missing:
    if os.environ.get("CI"):
        raise pytest.UsageError(
            f"tests/napari: {', '.join(_missing)} not installed, and CI is set, so the napari plugin's tests may not be "
            "left out: install the napari and dev extras (pip install -e '.[dev,napari]'; pytestqt is pytest-qt)")
    collect_ignore_glob = ["test_*.py"]

#: Seconds to wait after the X server answers: on the CI machines an X connection made right after
#: another one closed (xdpyinfo's check) is sometimes dropped, which Qt treats as fatal.
_X_SETTLE_S = 0.5


@pytest.fixture(scope="session")
def display():
    """The X display the viewer tests use: a private Xvfb server for the session (else $DISPLAY)."""
    if shutil.which("Xvfb") is None or importlib.util.find_spec("pyvirtualdisplay") is None:
        if os.environ.get("DISPLAY"):
            yield os.environ["DISPLAY"]
            return
        message = ("no X display for the napari viewer tests: install Xvfb (Debian: xvfb x11-utils) and "
                   "PyVirtualDisplay (dev extra)")
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    from pyvirtualdisplay import Display

    with Display(backend="xvfb", size=(1280, 1024), color_depth=24) as server:
        time.sleep(_X_SETTLE_S)
        yield f":{server.display}"


@pytest.fixture(scope="session")
def qapp_args(display, pytestconfig):
    """pytest-qt's QApplication arguments; depending on :func:`display` makes the display come first."""
    return [pytestconfig.getini("qt_qapp_name")]


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
