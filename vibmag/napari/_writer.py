"""The napari writers: a recording layer to a vibmag HDF5 file, or to an MP4/GIF video.

The layer goes back to a recording with
:func:`vibmag.napari._layers.recording_from_layer_data` (frame rate and pixel
size from its scale and units, provenance such as alpha, band and method from
its metadata), then :func:`vibmag.save` or :func:`vibmag.write_video` writes
it. napari's save dialog asks before replacing a file; files vibmag did not
write (and the recording a result came from) are never overwritten.
"""

from __future__ import annotations

import vibmag

from ._layers import recording_from_layer_data

__all__ = ["write_hdf5", "write_video", "write_side_by_side"]


def write_hdf5(path: str, data, attributes: dict) -> list[str]:
    """Save one image layer as a vibmag HDF5 recording (reopen with the vibmag reader or ``vibmag.open_recording``)."""
    vibmag.save(recording_from_layer_data(data, attributes), path, overwrite=True)
    return [str(path)]


def write_video(path: str, data, attributes: dict) -> list[str]:
    """Write one image layer as an MP4 (H.264) or GIF, played at min(capture rate, 30) fps."""
    vibmag.write_video(recording_from_layer_data(data, attributes), path, overwrite=True)
    return [str(path)]


def write_side_by_side(path: str, layers: list[tuple]) -> list[str]:
    """Write two image layers (e.g. a recording and its magnified result) side by side in one MP4 or GIF."""
    (first, first_meta, _), (second, second_meta, _) = layers
    vibmag.write_video(
        recording_from_layer_data(first, first_meta),
        path,
        side_by_side=recording_from_layer_data(second, second_meta),
        labels=(first_meta.get("name", ""), second_meta.get("name", "")),
        overwrite=True,
    )
    return [str(path)]
