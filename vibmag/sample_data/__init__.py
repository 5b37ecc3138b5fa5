"""Real high-speed recordings shipped with vibmag, for demos, tests and notebooks.

=================  =====================================  ===================================
name               file                                   what it shows
=================  =====================================  ===================================
showcase_beams     pyidi/data_showcase.cih (+ .mraw)      two vibrating beams, 75 frames of
                                                          640x40 px, 8-bit; 15 kHz record rate
                                                          saved every 100th frame (150 Hz)
speckle_beam       pymraw/beam.cihx (+ .mraw)             speckled beam, 4 frames of 1024x80,
                                                          16-bit container with 12 bits
ball               pymraw/ball_12bit.cihx (+ .mraw)       falling ball, 15 frames of 384x384,
                                                          12-bit packed, 30 kHz
small_cine         pyidi/data_small_cine.cine             Phantom .cine sample from pyidi
=================  =====================================  ===================================

The files come from the pyidi and pyMRAW projects, under the MIT licences
kept beside them (``pyidi/LICENSE``, ``pymraw/LICENSE``).

Examples
--------
>>> import vibmag
>>> from vibmag import sample_data
>>> ds = vibmag.open_recording(sample_data.path("speckle_beam"))
>>> dict(ds.sizes)
{'time': 4, 'y': 80, 'x': 1024}
"""

from __future__ import annotations

from pathlib import Path

from ..io import open_recording

__all__ = ["path", "names", "open_sample"]

_HERE = Path(__file__).parent
_FILES = {
    "showcase_beams": "pyidi/data_showcase.cih",
    "speckle_beam": "pymraw/beam.cihx",
    "ball": "pymraw/ball_12bit.cihx",
    "small_cine": "pyidi/data_small_cine.cine",
}


def names() -> list[str]:
    """Names of the shipped recordings."""
    return sorted(_FILES)


def path(name: str) -> Path:
    """Path of a shipped recording's main file (the header for Photron files)."""
    if name not in _FILES:
        raise KeyError(f"no sample recording {name!r}; choose from {names()}")
    return _HERE / _FILES[name]


def open_sample(name: str, **kwargs):
    """Open a shipped recording with :func:`vibmag.open_recording` (keywords passed on)."""
    return open_recording(path(name), **kwargs)
