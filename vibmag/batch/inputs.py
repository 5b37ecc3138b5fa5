"""Which recordings a batch holds: input files, the recordings inside each, and their names.

The client expands the inputs (files, folders, globs) into HDF5 files and
names them; :func:`inspect_file` then runs on a worker, which opens each file
itself, so the client never reads frames. A file yields one recording (a
vibmag file, or a foreign file with an exact dataset path) or several (a
vibmag file holding recordings in groups, or a pattern such as ``/*/frames``
matching several datasets).

Names are the file's stem (``m1.h5`` -> ``m1``), qualified by its parent folders
where stems collide, plus the dataset path for recordings found by a pattern
or in groups (``m1.cam0.frames``). They name the groups of the results file.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import h5py

from ..errors import RecordingError, RecordingNotFoundError, VibmagError
from ..io import open_recording
from ..io.hdf5 import is_vibmag_file
from .settings import InputSettings, SettingsError

__all__ = ["Recording", "RecordingProblem", "expand_inputs", "file_names", "inspect_file", "inspect_task", "HDF5_SUFFIXES"]

HDF5_SUFFIXES = (".h5", ".hdf5")
_GLOB_CHARS = re.compile(r"[*?\[]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Recording:
    """One recording found in an input file (what a worker needs to open it again)."""

    name: str
    path: str
    dataset: str | None  # vibmag file: its group (None: the root); foreign file: the frames dataset
    shape: tuple  # (time, y, x[, channel])
    frame_rate: str
    file_size: int
    file_mtime_ns: int

    def identity(self) -> dict:
        """What identifies the input: resumed runs recompute a recording whose input changed."""
        return {"path": self.path, "dataset": self.dataset or "", "size": self.file_size, "mtime_ns": self.file_mtime_ns}


@dataclass(frozen=True)
class RecordingProblem:
    """A recording found in a file that cannot be opened (e.g. a dataset without a frame rate)."""

    name: str
    path: str
    dataset: str | None
    error: str


def expand_inputs(inputs, *, exclude=()) -> list[Path]:
    """HDF5 files named by ``inputs``: files, folders (their ``.h5``/``.hdf5`` files) and glob patterns.

    Files are returned resolved, in order, each once; ``exclude`` (the results
    file) is left out where a folder or pattern matches it, and refused where
    it is named as an input file. Raises SettingsError for a path that does not
    exist, a pattern or folder with no HDF5 file, a file that is not
    ``.h5``/``.hdf5``, or an input that is an excluded file.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    excluded = {Path(p).resolve() for p in exclude}
    found: list[Path] = []
    for item in inputs:
        text = str(item)
        if _GLOB_CHARS.search(text) and not Path(text).exists():
            matches = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).suffix.lower() in HDF5_SUFFIXES]
            if not matches:
                raise SettingsError(f"{text}: the pattern matches no .h5/.hdf5 file")
        elif Path(text).is_dir():
            matches = sorted(p for p in Path(text).iterdir() if p.is_file() and p.suffix.lower() in HDF5_SUFFIXES)
            if not matches:
                raise SettingsError(f"{text}: the folder holds no .h5/.hdf5 file")
        elif Path(text).is_file():
            if Path(text).suffix.lower() not in HDF5_SUFFIXES:
                raise SettingsError(f"{text}: batch inputs are HDF5 files (.h5, .hdf5)")
            if Path(text).resolve() in excluded:
                raise SettingsError(f"{text}: is the results file (--output); an input cannot also be the results file")
            matches = [Path(text)]
        else:
            raise SettingsError(f"{text}: no such file, folder or pattern")
        found += [p.resolve() for p in matches]
    unique = list(dict.fromkeys(p for p in found if p not in excluded))
    if not unique:
        raise SettingsError("no input files (the only ones named are the results file)")
    return unique


def file_names(files: list[Path]) -> dict[Path, str]:
    """A short unique name per file: its stem, with parent folders added to the stems that collide."""
    depth = {p: 0 for p in files}

    def name(p: Path) -> str:
        parents = p.parent.parts[len(p.parent.parts) - depth[p] :] if depth[p] else ()
        return _safe(".".join([*parents, p.stem]))

    for _ in range(64):
        names = {p: name(p) for p in files}
        counts = Counter(names.values())
        clashing = [p for p in files if counts[names[p]] > 1]
        if not clashing:
            return names
        for p in clashing:
            depth[p] += 1
    return {p: f"{n}.{i}" for i, (p, n) in enumerate(names.items())}


def _safe(text: str) -> str:
    """Characters HDF5 group names and file names take everywhere."""
    return _UNSAFE.sub("_", text).strip("._") or "recording"


def recording_name(base: str, dataset: str | None) -> str:
    """The name of the recording at ``dataset`` of the file named ``base``."""
    return base if not dataset else f"{base}.{_safe(dataset.strip('/').replace('/', '.'))}"


def inspect_file(path: str, base: str, options: InputSettings) -> list[Recording | RecordingProblem]:
    """The recordings in one HDF5 file (runs on a worker, which reads the file itself).

    Raises
    ------
    RecordingError
        If the file is not HDF5, is corrupt, or holds no recording (for a file
        not written by vibmag: no dataset path given, or none matches it).
    """
    file = Path(path)
    if not file.is_file():
        raise RecordingNotFoundError(f"{file}: no such file")
    if not h5py.is_hdf5(file):
        raise RecordingError(f"{file}: not an HDF5 file (no HDF5 signature)")
    try:
        with h5py.File(file, "r") as f:
            own = is_vibmag_file(file)
            datasets = _own_recordings(f) if own else _foreign_datasets(f, file, options.dataset)
    except OSError as exc:
        raise RecordingError(f"{file}: cannot read the HDF5 file, it may be truncated or corrupt ({exc})") from exc
    if own and not datasets:
        raise RecordingError(f"{file}: a vibmag file holding no recording (no 'frames' variable)")
    named = [(recording_name(base, d) if (own and d) or (not own and _GLOB_CHARS.search(options.dataset)) else base, d) for d in datasets]
    stat = file.stat()
    return [_open_one(name, file, dataset, options, stat) for name, dataset in named]


def inspect_task(path: str, base: str, options: InputSettings) -> list[Recording | RecordingProblem]:
    """:func:`inspect_file` as a batch task: a bad input file becomes one problem, not a task error.

    Bad input is not worth retrying, nor a worker's error log; anything else
    (a bug, a lost file system) still raises.
    """
    try:
        return inspect_file(path, base, options)
    except VibmagError as exc:
        return [RecordingProblem(base, str(path), None, f"{type(exc).__name__}: {exc}")]


def _own_recordings(f) -> list[str | None]:
    """A vibmag file's recordings: the root (None) if it holds frames, else every group that does."""
    if isinstance(f.get("frames"), h5py.Dataset):
        return [None]
    found = []
    f.visititems(lambda name, item: found.append("/" + name) if isinstance(item, h5py.Group) and isinstance(item.get("frames"), h5py.Dataset) else None)
    return found


def _foreign_datasets(f, file: Path, pattern: str | None) -> list[str]:
    """Paths of the frames datasets of a foreign file matching ``pattern`` (3-D or 4-D datasets)."""
    candidates: list[str] = []
    f.visititems(lambda name, item: candidates.append("/" + name) if isinstance(item, h5py.Dataset) and item.ndim in (3, 4) else None)
    listing = ", ".join(candidates[:10]) or "none"
    if pattern is None:
        raise RecordingError(f"{file}: not a vibmag file; set input.dataset (or --dataset) to the path of its frames, e.g. '/*/frames' (candidates: {listing})")
    parts = pattern.strip("/").split("/")
    matches = [c for c in candidates if _match(c.strip("/").split("/"), parts)]
    if not matches:
        raise RecordingError(f"{file}: no dataset matches {pattern!r} (candidates: {listing})")
    return matches


def _match(path: list[str], pattern: list[str]) -> bool:
    """Component-wise glob match: ``*`` matches within one level of the HDF5 path."""
    return len(path) == len(pattern) and all(fnmatch.fnmatchcase(p, q) for p, q in zip(path, pattern))


def _open_one(name: str, file: Path, dataset: str | None, options: InputSettings, stat) -> Recording | RecordingProblem:
    """Open one recording lazily to check it and read its size and rate."""
    try:
        ds = open_recording(file, dataset=dataset, frame_rate=options.frame_rate, pixel_size=options.pixel_size, bit_depth=options.bit_depth)
    except VibmagError as exc:
        return RecordingProblem(name, str(file), dataset, f"{type(exc).__name__}: {exc}")
    try:
        shape = tuple(int(n) for n in ds["frames"].shape)
        if shape[0] < 4:
            return RecordingProblem(name, str(file), dataset, f"RecordingError: {file}: {shape[0]} frames; a spectrum needs at least 4")
        return Recording(name, str(file), dataset, shape, ds.attrs["frame_rate"], stat.st_size, stat.st_mtime_ns)
    finally:
        ds.close()
