"""The napari reader: Photron (.cih/.cihx/.mraw), vibmag HDF5 files and videos as time-series image layers.

:func:`get_reader` is napari's ``get_reader`` hook: it looks only at the path
(and, for HDF5, whether vibmag wrote the file), returns None for anything it
does not own and never raises. The reader it returns opens the recording with
:func:`vibmag.open_recording` (lazily for large files) and returns one Image
layer with the time axis in seconds and the pixel size (mm) when known, see
:mod:`vibmag.napari._layers`.

Videos store a playback rate, not the camera's capture rate: the layer's time
scale then comes from the container (``metadata["vibmag"]["frame_rate_source"]``
says so); set ``layer.scale`` to the true rate before measuring.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import vibmag
from vibmag.io.hdf5 import is_vibmag_file

from ._layers import layer_data_tuple

__all__ = ["get_reader", "read_recording", "SUFFIXES"]

logger = logging.getLogger(__name__)

PHOTRON_SUFFIXES = (".cih", ".cihx", ".mraw")
HDF5_SUFFIXES = (".h5", ".hdf5")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov")
#: Every suffix the reader may claim (napari.yaml's filename patterns list the same).
SUFFIXES = PHOTRON_SUFFIXES + HDF5_SUFFIXES + VIDEO_SUFFIXES


def get_reader(path):
    """napari's reader hook: :func:`read_recording` for a file vibmag owns, else None (never raises)."""
    try:
        if isinstance(path, (list, tuple)):
            if len(path) != 1:
                return None
            path = path[0]
        if not isinstance(path, (str, os.PathLike)):
            return None
        return read_recording if _owns(Path(path)) else None
    except Exception:  # a hook that raises breaks napari's choice of reader; not ours means None
        logger.debug("vibmag reader: not claiming %r", path, exc_info=True)
        return None


def _owns(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES or not path.is_file():
        return False
    if suffix in HDF5_SUFFIXES:
        return is_vibmag_file(path)
    return True


def read_recording(path) -> list[tuple]:
    """One Image layer data tuple for the recording at ``path`` (``path`` may be a one-item list).

    Raises :class:`vibmag.RecordingError` for a file that is vibmag's kind but
    corrupt or truncated, with the reason.
    """
    if isinstance(path, (list, tuple)):
        path = path[0]
    path = Path(path)
    ds = vibmag.open_recording(path)
    return [layer_data_tuple(ds, _layer_name(path))]


def _layer_name(path: Path) -> str:
    """The layer name: the file name without its suffix."""
    return path.stem
