"""The middle floor: the one place that chains the layers, and what every front end calls.

* :mod:`~vibmag.pipeline.magnifying`: :func:`magnify`, a whole recording
  streamed through displacement, a temporal band and a magnifier
  (API.md, "Magnification").
* :mod:`~vibmag.pipeline.surveying`: :func:`survey`, a recording's vibration
  at a glance (displacement maps, spectrum, peaks), the band around a peak,
  and tiled reductions for recordings too large to hold.
* :mod:`~vibmag.pipeline.clip`: a magnified clip written as a side-by-side
  video, as the CLI, the demo and the batch runner write it.

The CLI, the demo, the batch runner and the napari plugin parse what users
type and call these functions only; between layers frequencies are floats in
Hz and lengths floats in px or mm.
"""

from .clip import write_magnified_clip
from .magnifying import (DEFAULT_TRANSITION, MEASURES_FLOW, MEMORY_RESULT_BYTES, METHODS, MagnifyError, MotionEvidence,
                         flow_options_for, magnify)
from .surveying import band_around, dominant_band, motion_maps, peak_table, plot_survey, survey

__all__ = [
    "magnify",
    "METHODS",
    "MEASURES_FLOW",
    "flow_options_for",
    "MagnifyError",
    "MotionEvidence",
    "DEFAULT_TRANSITION",
    "MEMORY_RESULT_BYTES",
    "survey",
    "dominant_band",
    "band_around",
    "motion_maps",
    "peak_table",
    "plot_survey",
    "write_magnified_clip",
]
