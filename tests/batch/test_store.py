"""The results file: groups committed atomically, a client killed mid-write loses nothing finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest
import xarray as xr

import vibmag
from vibmag.batch import BatchError, read_results_table
from vibmag.batch.store import ResultsStore
from vibmag.errors import OverwriteError

WRITER = r"""
import sys
import numpy as np, xarray as xr
from vibmag.batch.store import ResultsStore

path, start = sys.argv[1], int(sys.argv[2])
with ResultsStore(path) as store:
    print("ready", flush=True)
    for i in range(start, start + 200):
        values = np.full((64, 128), float(i))
        store.put(f"g{i:04d}", xr.Dataset({"values": (("row", "col"), values)}, attrs={"status": "complete", "index": i}))
"""


def group(i: int) -> xr.Dataset:
    return xr.Dataset({"values": (("row", "col"), np.full((64, 128), float(i)))}, attrs={"status": "complete", "index": i})


def check_groups(path) -> int:
    """Every group in the results file is complete and holds what was written; return how many (0..n-1)."""
    with h5py.File(path, "r") as f:
        names = sorted(f)
    assert names == [f"g{i:04d}" for i in range(len(names))]
    for i, name in enumerate(names):
        xr.testing.assert_identical(vibmag.load(path, group=name), group(i))
    return len(names)


def test_a_client_killed_while_writing_loses_no_finished_group(tmp_path):
    path = tmp_path / "results.h5"
    committed = 0
    for delay in (0.4, 1.2):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(committed)], stdout=subprocess.PIPE, text=True)
        try:
            assert writer.stdout.readline().strip() == "ready"
            try:
                writer.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.kill(writer.pid, signal.SIGKILL)
        finally:
            writer.wait()
            writer.stdout.close()
        # whatever instant the kill hit, the results file is readable and holds only complete groups
        merged = check_groups(path) if path.exists() else 0
        leftovers = len(list((tmp_path / "results.h5.parts").glob("*.h5"))) if (tmp_path / "results.h5.parts").exists() else 0
        with ResultsStore(path):  # a new run merges what the killed one finished and cleans up
            pass
        assert check_groups(path) == merged + leftovers > committed
        committed = merged + leftovers
        assert sorted(p.name for p in tmp_path.iterdir()) == ["results.h5"]


def test_put_groups_are_readable_with_h5py_and_vibmag(tmp_path):
    path = tmp_path / "results.h5"
    with ResultsStore(path) as store:
        store.put("a", group(0).assign_attrs(settings={"analysis": {"n_peaks": 3}}, input={"path": "/x.h5"}))
        store.put("b", xr.Dataset(attrs={"status": "failed", "error": "RecordingError: broken"}))
        store.put("a", group(1))  # a group stored again replaces the first
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["a", "b"] and f["a"]["values"][0, 0] == 1.0
    xr.testing.assert_identical(vibmag.load(path, group="a"), group(1))
    assert [(row["recording"], row["status"], row.get("error")) for row in read_results_table(path)] == [
        ("a", "complete", None), ("b", "failed", "RecordingError: broken")]


def test_one_client_at_a_time(tmp_path):
    path = tmp_path / "results.h5"
    with ResultsStore(path):
        with pytest.raises(BatchError, match="another vibmag batch is writing this results file"):
            ResultsStore(path).__enter__()
    with ResultsStore(path):  # released when the first closed
        pass


def test_a_file_not_written_by_vibmag_is_never_modified(tmp_path):
    path = tmp_path / "theirs.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    before = path.read_bytes()
    with pytest.raises(OverwriteError, match="not written by vibmag"):
        ResultsStore(path).__enter__()
    assert path.read_bytes() == before
    with pytest.raises(BatchError, match=r"must be \.h5 or \.hdf5"):
        ResultsStore(tmp_path / "results.nc").__enter__()
