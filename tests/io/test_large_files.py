"""Opening very large recordings is lazy: no frame data is read, little memory is used
(a bound of 400 MiB: reading one frame decodes its lazy chunk of about 64 MB).

The files are sparse (a 20 GB .mraw that takes no disk space) or HDF5 datasets
that were declared but never written. Timings of the same opens are in
benchmarks/open_large.py; tests only check laziness and memory.
"""

import tracemalloc

import h5py
import numpy as np
import pytest

import vibmag
from vibmag.io.photron import write_photron

TWENTY_GB = 20 * 2**30


def sparse_photron(folder):
    height, width = 1024, 1024
    n_frames = TWENTY_GB // (height * width * 2)
    header = write_photron(folder / "big.cih", np.zeros((1, height, width), np.uint16), record_rate=20000, bits=16, effective_bits=12)
    header.write_text(header.read_text().replace("Total Frame : 1", f"Total Frame : {n_frames}"))
    with open(folder / "big.mraw", "r+b") as f:
        f.truncate(n_frames * height * width * 2)
    return header, n_frames


def test_twenty_gigabyte_mraw_opens_lazily(tmp_path):
    header, n_frames = sparse_photron(tmp_path)
    tracemalloc.start()
    ds = vibmag.open_recording(header)
    frame = ds["frames"].isel(time=n_frames - 1).values
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ds.sizes["time"] == n_frames == 10240
    assert frame.shape == (1024, 1024) and not frame.any()
    assert peak < 400 * 2**20, f"peak Python allocation {peak / 2**20:.0f} MiB"


def test_twenty_gigabyte_hdf5_opens_lazily(tmp_path):
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("frames", shape=(10240, 1024, 1024), dtype=np.uint16, chunks=(16, 256, 256), fillvalue=100)
        f["frames"].attrs["frame_rate"] = "20 kHz"
    tracemalloc.start()
    ds = vibmag.open_recording(path, dataset="/frames", bit_depth=12)
    chunks = vibmag.iter_frame_chunks(ds.isel(time=slice(5000, 5010)), 4)
    first = next(chunks)[1]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert first.shape == (4, 1024, 1024)
    np.testing.assert_allclose(first, 100 / 4095, rtol=1e-6)
    assert peak < 400 * 2**20, f"peak Python allocation {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("n_frames", [1, 3])
def test_small_files_chunk_to_whole_recording(tmp_path, n_frames):
    np.save(tmp_path / "s.npy", np.zeros((n_frames, 4, 4), np.uint8))
    ds = vibmag.open_recording(tmp_path / "s.npy", frame_rate="1 Hz")
    assert ds["frames"].chunks[0] == (n_frames,)
