"""napari sample data: a synthetic vibrating plate with known modes, and the real beam recording."""

from __future__ import annotations

from vibmag import sample_data
from vibmag.synthetic import Mode
from vibmag.synthetic import vibrating_plate as plate

from ._layers import layer_data_tuple
from ._reader import read_recording

__all__ = ["vibrating_plate", "beams", "PLATE_MODES"]

#: The plate's modes: (frequency, amplitude px, direction deg, shape), as passed to vibmag.synthetic.Mode.
PLATE_MODES = (("40 Hz", 0.3, 90.0, "bending"), ("110 Hz", 0.12, 0.0, "bending2"))


def vibrating_plate() -> list[tuple]:
    """A 96 x 128 px speckled plate, 64 frames at 500 Hz, 0.1 mm pixels, with the two modes of :data:`PLATE_MODES`.

    The first bends the plate up and down (y) at 40 Hz, 0.3 px at the centre;
    the second bends it left and right (x) at 110 Hz, 0.12 px, with a node in
    the middle. ``metadata["vibmag"]["scene"]`` holds the scene as JSON, true
    displacement included by construction (:mod:`vibmag.synthetic`).
    """
    modes = [Mode(f, a, direction=d, shape=s) for f, a, d, s in PLATE_MODES]
    ds = plate((96, 128), n_frames=64, frame_rate="500 Hz", modes=modes, noise=0.002, seed=1, pixel_size="0.1 mm")
    return [layer_data_tuple(ds.drop_vars("true_displacement"), "vibrating plate (40 Hz, 110 Hz)")]


def beams() -> list[tuple]:
    """The real Photron recording of two vibrating beams shipped with vibmag (75 frames of 640 x 40 px, 150 Hz)."""
    data, kwargs, kind = read_recording(sample_data.path("showcase_beams"))[0]
    kwargs["name"] = "beams (Photron)"
    return [(data, kwargs, kind)]
