"""Readers and writers: every recording format vibmag opens, behind one call.

:func:`open_recording` picks the reader by the source's type and extension;
each reader returns the recording layout of :mod:`vibmag.recording`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import RecordingError, RecordingNotFoundError
from ..recording import lazy_time_chunks, make_recording
from .cine import read_cine
from .frames import read_frames
from .hdf5 import read_hdf5
from .lazy import lazy_from_file
from .photron import read_photron
from .video import read_video

__all__ = ["open_recording", "read_npy", "VIDEO_SUFFIXES", "IMAGE_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".gif")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nc")


def open_recording(source, *, frame_rate=None, pixel_size=None, dataset=None, bit_depth=None):
    """Open a recording as an xarray Dataset with units (API.md, "Recordings").

    Parameters
    ----------
    source : path-like, glob string, or array
        ``.cih``/``.cihx``/``.mraw`` (Photron), ``.cine`` (Phantom), ``.h5``/``.hdf5``,
        ``.mp4``/``.avi``/``.mov``, a folder or glob of ``.png``/``.tif`` frames,
        ``.npy``, or a NumPy/dask array shaped (time, y, x) or (time, y, x, channel).
    frame_rate : str or pint.Quantity, optional
        Capture rate (``"2 kHz"``); overrides the file's own. Required for
        arrays, ``.npy`` and image folders, which store none.
    pixel_size : str or pint.Quantity, optional
        Size of one pixel on the object (``"0.05 mm"``).
    dataset : str, optional
        HDF5 only: the frames dataset of a foreign file (``"/cam0/frames"``),
        or the group of a vibmag file.
    bit_depth : int, optional
        Effective bits of integer data whose container does not say.

    Returns
    -------
    xarray.Dataset
        ``frames`` float32 in [0, 1] with dims (time, y, x[, channel]), coords
        ``time`` (s), ``y``, ``x`` (px), attrs ``frame_rate``, ``pixel_size``
        (when known), ``source``, ``bit_depth`` and the file's metadata.
        Large files are memory-mapped or dask-backed and read lazily.

    Raises
    ------
    RecordingNotFoundError
        Missing files.
    RecordingError
        Unknown formats, corrupt or truncated files, a missing frame rate.
    UnitError
        Quantities of the wrong dimension (``frame_rate="20 mm"``).

    Examples
    --------
    >>> import vibmag
    >>> from vibmag import sample_data
    >>> ds = vibmag.open_recording(sample_data.path("showcase_beams"))
    >>> ds.attrs["frame_rate"], ds.sizes["time"]
    ('150 Hz', 75)
    """
    if not isinstance(source, (str, os.PathLike)):
        return _open_array(source, frame_rate=frame_rate, pixel_size=pixel_size, bit_depth=bit_depth)
    text = os.fspath(source)
    if any(char in text for char in "*?["):
        return read_frames(text, frame_rate=_required_rate(frame_rate, text), pixel_size=pixel_size, bit_depth=bit_depth)
    path = Path(text)
    if path.is_dir():
        return read_frames(path, frame_rate=_required_rate(frame_rate, path), pixel_size=pixel_size, bit_depth=bit_depth)
    if not path.exists():
        raise RecordingNotFoundError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix in (".cih", ".cihx", ".mraw"):
        return read_photron(path, frame_rate=frame_rate, pixel_size=pixel_size)
    if suffix in HDF5_SUFFIXES:
        return read_hdf5(path, dataset=dataset, frame_rate=frame_rate, pixel_size=pixel_size, bit_depth=bit_depth)
    if suffix == ".npy":
        return read_npy(path, frame_rate=_required_rate(frame_rate, path), pixel_size=pixel_size, bit_depth=bit_depth)
    if suffix == ".cine":
        return read_cine(path, frame_rate=frame_rate, pixel_size=pixel_size)
    if suffix in VIDEO_SUFFIXES:
        return read_video(path, frame_rate=frame_rate, pixel_size=pixel_size)
    if suffix in IMAGE_SUFFIXES:
        return read_frames(path, frame_rate=_required_rate(frame_rate, path), pixel_size=pixel_size, bit_depth=bit_depth)
    raise RecordingError(
        f"{path}: unknown recording format {suffix!r}; vibmag opens .cih/.cihx/.mraw, .cine, "
        f".h5/.hdf5, {'/'.join(VIDEO_SUFFIXES)}, .npy and folders of {'/'.join(IMAGE_SUFFIXES)} frames"
    )


def _required_rate(frame_rate, source):
    """``frame_rate``, or a RecordingError saying this source stores none."""
    if frame_rate is None:
        raise RecordingError(f"{source}: this source stores no capture rate; pass frame_rate=, e.g. frame_rate='2 kHz'")
    return frame_rate


def _open_array(array, *, frame_rate, pixel_size, bit_depth):
    """An in-memory NumPy or dask array as a recording (frame rate required)."""
    if not hasattr(array, "shape") or not hasattr(array, "dtype"):
        array = np.asarray(array)
    return make_recording(array, frame_rate=_required_rate(frame_rate, "array"), pixel_size=pixel_size, bit_depth=bit_depth, source="array")


def read_npy(path, *, frame_rate, pixel_size=None, bit_depth=None):
    """A ``.npy`` file (time, y, x[, channel]) as a recording, memory-mapped and read lazily."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
    except Exception as exc:  # noqa: BLE001  numpy's header parser raises ValueError, OSError, even tokenize.TokenError
        raise RecordingError(f"{path}: not a readable .npy array ({type(exc).__name__}: {exc})") from exc
    if fortran or dtype.hasobject or len(shape) not in (3, 4):
        raise RecordingError(f"{path}: frames must be a C-ordered numeric array shaped (time, y, x) or (time, y, x, channel), got shape {shape}")
    if os.path.getsize(path) < offset + int(np.prod(shape)) * dtype.itemsize:
        raise RecordingError(f"{path}: truncated: the file is smaller than its header's shape {shape} of {dtype}")
    lazy = lazy_from_file(path, dtype, shape, offset=offset, time_chunk=lazy_time_chunks(shape[1:], dtype.itemsize))
    recording = make_recording(lazy, frame_rate=frame_rate, pixel_size=pixel_size, bit_depth=bit_depth, source=str(path))
    return recording.assign_attrs(format="npy")
