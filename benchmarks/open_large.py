"""How long opening a 20 GB recording takes, and how much memory it and reading frames use.

Usage: python benchmarks/open_large.py [--size-gb 20]

Writes a sparse .mraw (+ .cih header) and an HDF5 file whose dataset is
declared but never written, then, each in a fresh process, measures the time of
``vibmag.open_recording`` (imports excluded), the resident memory after
opening, and the peak resident memory while streaming 256 frames with
``iter_frame_chunks``. Writes the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from vibmag.io.photron import write_photron

from report import machine_line, markdown_table, update_section

HEIGHT = WIDTH = 1024

PROBE = r"""
import json, sys, time, resource, psutil
import vibmag, vibmag.io.photron, vibmag.io.hdf5, vibmag.io.lazy  # imports are not part of the open time
path, kwargs = sys.argv[1], json.loads(sys.argv[2])
process = psutil.Process()
before = process.memory_info().rss
start = time.perf_counter()
ds = vibmag.open_recording(path, **kwargs)
opened = time.perf_counter() - start
after_open = process.memory_info().rss
start = time.perf_counter()
n = 0
for _, chunk in vibmag.iter_frame_chunks(ds.isel(time=slice(0, 256)), 16):
    n += len(chunk)
streamed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(frames=ds.sizes["time"], open_s=opened, open_mib=(after_open - before) / 2**20,
                      stream_fps=n / streamed, peak_mib=peak / 2**20)))
"""


def make_files(folder: Path, size_gb: float) -> dict:
    """A sparse Photron pair and an unwritten HDF5 dataset of about ``size_gb`` GiB each."""
    n_frames = int(size_gb * 2**30) // (HEIGHT * WIDTH * 2)
    header = write_photron(folder / "big.cih", np.zeros((1, HEIGHT, WIDTH), np.uint16), record_rate=20000, bits=16, effective_bits=12)
    header.write_text(header.read_text().replace("Total Frame : 1", f"Total Frame : {n_frames}"))
    with open(folder / "big.mraw", "r+b") as f:
        f.truncate(n_frames * HEIGHT * WIDTH * 2)
    h5 = folder / "big.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("frames", shape=(n_frames, HEIGHT, WIDTH), dtype=np.uint16, chunks=(16, 256, 256), fillvalue=100)
        f["frames"].attrs["frame_rate"] = 20000.0
    return {"Photron .cih + .mraw (16-bit)": (header, {}), "HDF5 dataset (uint16)": (h5, {"dataset": "/frames", "bit_depth": 12})}


def measure(path: Path, kwargs: dict) -> dict:
    """Run the probe in a fresh Python process and return its measurements."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), json.dumps(kwargs)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gb", type=float, default=20.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (path, kwargs) in make_files(Path(tmp), args.size_gb).items():
            m = measure(path, kwargs)
            rows.append([label, f"{args.size_gb:g} GiB", m["frames"], m["open_s"], m["open_mib"], m["stream_fps"], m["peak_mib"]])
    table = markdown_table(["format", "size", "frames", "open (s)", "RSS after open (MiB)", "streaming (frames/s)", "peak RSS (MiB)"], rows)
    print(table)
    body = (
        f"Command: `python benchmarks/open_large.py --size-gb {args.size_gb:g}`. Machine: {machine_line()}.\n\n"
        "Frames are 1024 x 1024 px. `open` is the call to `vibmag.open_recording` alone (imports excluded); "
        "streaming reads 256 frames through `iter_frame_chunks` 16 at a time. Peak RSS is the whole "
        "process's, Python, NumPy and dask included.\n\n" + table
    )
    update_section("Opening large recordings", body)


if __name__ == "__main__":
    main()
