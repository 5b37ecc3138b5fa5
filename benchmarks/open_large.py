"""How long opening a 20 GB recording takes, and how much memory it and reading frames use.

Usage: python benchmarks/open_large.py [--size-gb 20] [--quick] [--no-write]

Writes a sparse .mraw (+ .cih header) and an HDF5 file whose dataset is
declared but never written, then, each in a fresh process, measures the time of
``vibmag.open_recording`` (imports excluded), the resident memory after
opening, and the peak resident memory while streaming 256 frames with
``iter_frame_chunks`` (the probe's own high-water mark, ``VmHWM``). A full run
(``--size-gb`` of at least 20, the size the section documents) writes the table
into docs/benchmarks.md; a smaller one, ``--quick`` (1 GiB) or ``--no-write``
only prints it.
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
HERE = Path(__file__).resolve().parent

#: The size (GiB) docs/benchmarks.md documents; smaller runs do not write it.
DOC_SIZE_GB = 20.0
QUICK_SIZE_GB = 1.0

# Run with `python -c` in a fresh process; argv: benchmarks folder, path, kwargs. Peak RSS is the probe's own
# VmHWM (metrics.peak_rss_mib): getrusage's ru_maxrss would carry this benchmark process's peak over.
PROBE = r"""
import json, sys, time, psutil
sys.path.insert(0, sys.argv.pop(1))
from metrics import peak_rss_mib
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
print(json.dumps(dict(frames=ds.sizes["time"], open_s=opened, open_mib=(after_open - before) / 2**20,
                      stream_fps=n / streamed, peak_mib=peak_rss_mib())))
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
    out = subprocess.run([sys.executable, "-c", PROBE, str(HERE), str(path), json.dumps(kwargs)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=DOC_SIZE_GB,
                        help=f"size of each file, GiB (default {DOC_SIZE_GB:g}; smaller runs do not write the docs)")
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_SIZE_GB:g} GiB smoke run; prints, never writes")
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.size_gb = QUICK_SIZE_GB
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
    if args.quick or args.no_write or args.size_gb < DOC_SIZE_GB:
        print(f"\n(not written to docs/benchmarks.md: only a full run of >= {DOC_SIZE_GB:g} GiB without --quick/--no-write is)")
        return
    print(f"updated {update_section('Opening large recordings', body)}")


if __name__ == "__main__":
    main()
