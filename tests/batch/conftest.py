"""Small synthetic HDF5 recordings with known vibration, and a LocalCluster of 2 worker processes."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest

import vibmag
from vibmag.synthetic import Mode, vibrating_plate

RATE = 500.0
#: name -> (frequency Hz, frame size, frames, written by vibmag?); "big" is large enough to be split in tiles
PLATES = {
    "p30": (31.25, 48, 64, True),
    "p45": (46.875, 48, 64, False),
    "p70": (70.3125, 48, 64, True),
    "big": (54.6875, 64, 64, False),
}
#: Settings of the batch tests: deflection shapes, a plot, a region, and tiles for "big" only.
SETTINGS = {
    "input": {"dataset": "/cam0/frames"},
    "analysis": {"deflection_shapes": True, "n_peaks": 3, "regions": {"frame": "all", "left": [0, 0, 48, 24]}},
    "output": {"plots": True},
    "parallel": {"tile_above_mb": 1.5, "tile_size": 32, "tile_margin": 16},
}


def plate(name: str):
    """The synthetic recording ``name`` of PLATES: a bending mode along y at its frequency."""
    hz, side, frames, _ = PLATES[name]
    return vibrating_plate((side, side), n_frames=frames, frame_rate=f"{RATE} Hz", supersample=2,
                           modes=[Mode(f"{hz} Hz", 0.4, shape="bending", direction=90)], seed=len(name) + int(hz))


def write_plate(folder, name: str):
    """Write recording ``name`` as vibmag HDF5 (root) or as a foreign file with 12-bit /cam0/frames."""
    ds = plate(name)
    path = folder / f"{name}.h5"
    if PLATES[name][3]:
        vibmag.save(ds[["frames"]], path)
    else:
        with h5py.File(path, "w") as f:
            frames = f.create_dataset("cam0/frames", data=np.round(ds["frames"].values * 4095).astype(np.uint16), chunks=(16, 32, 32))
            frames.attrs["frame_rate"] = RATE
            frames.attrs["bit_depth"] = 12
    return path


@pytest.fixture(scope="session")
def plates():
    """PLATES: name -> (frequency Hz, frame size, frames, written by vibmag?)."""
    return PLATES


@pytest.fixture(scope="session")
def true_displacement():
    """name -> the exact displacement (time, component, y, x) px of recording ``name`` of PLATES."""
    return lambda name: plate(name)["true_displacement"]


@pytest.fixture(scope="session")
def batch_settings():
    """SETTINGS, the settings of the batch tests (a fresh copy)."""
    import copy

    return copy.deepcopy(SETTINGS)


@pytest.fixture(scope="session")
def plate_folder(tmp_path_factory):
    """A folder holding every recording of PLATES (session-wide; tests copy what they modify)."""
    folder = tmp_path_factory.mktemp("plates")
    for name in PLATES:
        write_plate(folder, name)
    return folder


@pytest.fixture(scope="session")
def references(plate_folder):
    """Each recording processed alone, in this process (no Dask): name -> RecordingResult."""
    from vibmag.batch import process_recording

    out = {}
    for name, (_, _, _, own) in PLATES.items():
        result = process_recording(plate_folder / f"{name}.h5", settings=SETTINGS)
        out[result.dataset.attrs["recording"]] = result
    return out


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 single-threaded worker processes for one test module; yields its scheduler address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local.scheduler_address


@pytest.fixture
def root_logging():
    """vibmag.cli.main() points the root logger at the test's captured stderr; undo that afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
