"""The results file: one group per recording, written only by the batch client, never half-written.

Commit protocol (what survives the client being killed at any instant):

1. A finished recording is saved with :func:`vibmag.save` as its own small
   file ``results.h5.parts/<name>.h5``, itself written under a temporary name
   and renamed into place, so a part file is complete or absent.
2. Pending parts are merged into the results file by copying it to a
   temporary file in the same folder, writing the parts' groups into the copy,
   and renaming the copy over the results file (``os.replace``, atomic
   on POSIX); only then are the merged parts deleted.

A crash before step 2 ends leaves the old results file and the part files;
the next run merges the parts first (merging a part twice gives the same
group), so no finished recording is lost or recomputed and no reader ever sees
a half-written group. Merging rewrites the results file, so it is done when it
costs little: after each recording while the file is small, and less often as
it grows (at most about a tenth of the client's time), always at the end.

A lock file (``results.h5.lock``, ``flock``) keeps two batch clients from
writing the same results file.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from pathlib import Path

import h5py
import xarray as xr

from .. import __version__
from ..errors import OverwriteError, VibmagError
from ..files import atomic_path
from ..io.hdf5 import FILE_MARKER, is_vibmag_file, save

__all__ = ["ResultsStore", "BatchError", "read_results_table", "check_results_file", "is_results_file"]

logger = logging.getLogger("vibmag.batch")
#: Merging may take at most this fraction of the client's time.
MERGE_SHARE = 0.1


class BatchError(VibmagError, RuntimeError):
    """A batch cannot run (its results file is locked, unusable, or its settings conflict)."""


class ResultsStore:
    """The results HDF5 file of a batch and its pending part files; use as a context manager."""

    def __init__(self, path):
        self.path = Path(path).resolve()
        self.parts = self.path.with_name(self.path.name + ".parts")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_file = None
        self._pending: list[Path] = []
        self._last_merge_end = 0.0
        self._last_merge_seconds = 0.0

    def __enter__(self) -> ResultsStore:
        check_results_file(self.path)
        self._lock()
        try:
            self._remove_stale_temporaries()
            self._pending = sorted(self.parts.glob("*.h5")) if self.parts.is_dir() else []
            if self._pending:
                logger.info("merging %d results left by an interrupted run into %s", len(self._pending), self.path)
            self.merge()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.merge()
        finally:
            self._unlock()

    # ------------------------------------------------------------------ locking and cleanup

    def _lock(self) -> None:
        self._lock_file = open(self.lock_path, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise BatchError(f"{self.path}: another vibmag batch is writing this results file (lock {self.lock_path})") from None

    def _unlock(self) -> None:
        if self._lock_file is not None:
            self.lock_path.unlink(missing_ok=True)
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of a client killed mid-write (ours, and vibmag.save's ``.<name>.<hex>.tmp``)."""
        stale = list(self.path.parent.glob(f".{self.path.name}.*.tmp"))
        if self.parts.is_dir():
            stale += list(self.parts.glob(".*.tmp"))
        for path in stale:
            logger.info("removing %s, left by an interrupted write", path)
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ reading

    def statuses(self) -> dict[str, dict]:
        """``{name: attrs}`` of every recording group in the results file (``status``, ``settings_digest``, ``input``...)."""
        return {row["recording"]: row for row in read_results_table(self.path)} if self.path.exists() else {}

    # ------------------------------------------------------------------ writing

    def put(self, name: str, dataset) -> None:
        """Store one recording's group (complete or failed); merged into the results file soon after."""
        self.parts.mkdir(exist_ok=True)
        part = self.parts / f"{name}.h5"
        save(dataset, part, group=name, overwrite=True)
        if part not in self._pending:
            self._pending.append(part)
        self.maybe_merge()

    def maybe_merge(self) -> None:
        """Merge pending parts unless the last merge was so recent that merging would take over MERGE_SHARE of the time."""
        if self._pending and time.monotonic() - self._last_merge_end >= self._last_merge_seconds / MERGE_SHARE:
            self.merge()

    def merge(self) -> None:
        """Merge the pending parts into the results file, atomically (see the module docstring)."""
        if not self._pending:
            return
        start = time.monotonic()
        merged = []
        with atomic_path(self.path, suffix=".merge.tmp") as tmp:  # .<name>.<hex>.merge.tmp: see _remove_stale_temporaries
            if self.path.exists():
                shutil.copy2(self.path, tmp)
            for part in self._pending:
                _append_part(part, tmp)
                merged.append(part)
            with h5py.File(tmp, "a") as dst:
                dst.attrs[FILE_MARKER] = __version__
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        for part in merged:
            part.unlink(missing_ok=True)
        self._pending = [p for p in self._pending if p not in merged]
        if self.parts.is_dir() and not any(self.parts.iterdir()):
            self.parts.rmdir()
        self._last_merge_end = time.monotonic()
        self._last_merge_seconds = self._last_merge_end - start


def check_results_file(path) -> Path:
    """Refuse a results file vibmag must not write: not ``.h5``/``.hdf5``, in a missing or read-only
    folder, or an existing file that is not a batch results file (a file not written by vibmag, or a
    vibmag *recording*: results are never appended into a user's data). Returns the path."""
    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        raise BatchError(f"{path}: the results file must be .h5 or .hdf5")
    if not path.parent.is_dir():
        raise BatchError(f"{path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise BatchError(f"{path}: is a folder; the results file must be a file (.h5)")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise BatchError(f"{path}: the folder {path.parent} is not writable")
    if path.exists() and not is_vibmag_file(path):
        raise OverwriteError(f"{path}: exists and was not written by vibmag; refusing to modify it")
    if path.exists() and not is_results_file(path):
        raise OverwriteError(f"{path}: is a vibmag recording or result, not a batch results file; refusing to add to it: name a new results file")
    return path


def is_results_file(path) -> bool:
    """True if ``path`` is a batch results file: written by vibmag, no data at its root, and every group a recording's result (``status``)."""
    try:
        with h5py.File(path, "r") as f:
            if FILE_MARKER not in f.attrs or any(isinstance(item, h5py.Dataset) for item in f.values()):
                return False
            return all(isinstance(item, h5py.Group) and "status" in item.attrs for item in f.values())
    except (OSError, ValueError, KeyError, RuntimeError):
        return False


def _append_part(part: Path, target: Path) -> None:
    """Copy the one group of a part file into ``target``, replacing a group of the same name.

    The group is rewritten through xarray exactly as stored (no decoding), not
    copied with h5py: HDF5's object copy leaves the netCDF dimension-scale
    references pointing into the source file.
    """
    with h5py.File(part, "r") as src:
        (name,) = [key for key in src if isinstance(src[key], h5py.Group)]
    if target.exists():
        with h5py.File(target, "a") as dst:
            if name in dst:
                del dst[name]
    with xr.open_dataset(part, group=name, engine="h5netcdf", decode_cf=False, decode_times=False, decode_timedelta=False,
                         mask_and_scale=False, decode_coords=False) as raw:
        raw.load()
        encoding = {variable: {"_FillValue": None} for variable in raw.variables}
        raw.to_netcdf(target, mode="a" if target.exists() else "w", group=name, engine="h5netcdf", invalid_netcdf=True, encoding=encoding)


def read_results_table(path) -> list[dict]:
    """One row per recording group of a results file, by name: its status, error and provenance attrs.

    Reads with plain h5py (decoding vibmag's ``json:`` attributes), so it is
    cheap even for large results files.
    """
    rows = []
    with h5py.File(path, "r") as f:
        for name in sorted(f):
            group = f[name]
            if not isinstance(group, h5py.Group) or "status" not in group.attrs:
                continue
            row = {"recording": name}
            for key in ("status", "source", "dataset", "error", "settings_digest", "input", "run_compute_seconds", "run_completed", "dominant_band", "plot_file", "clip_file"):
                if key in group.attrs:
                    value = group.attrs[key]
                    value = value.decode() if isinstance(value, bytes) else value
                    if isinstance(value, str) and value.startswith("json:"):
                        value = json.loads(value[len("json:"):])
                    row[key] = value.item() if hasattr(value, "item") else value
            rows.append(row)
    return rows
