"""Vibration analysis on displacement fields and any data with a ``time`` dim.

Filters (zero-phase, along ``time``): :func:`bandpass`, :func:`lowpass`,
:func:`highpass`, :func:`bandstop`. Spectra: :func:`spectrum` (amplitude or
PSD, averaged over a region), :func:`systematic_spectrum`, :func:`find_peaks` and
:func:`resolved_peaks` (which peaks are vibrations, not a drift or a step). Regions:
:func:`region_mask`, :func:`waveform`, :func:`orbit`. Operating deflection
shapes: :func:`deflection_shape`, :func:`shape_magnitude`,
:func:`shape_phase`, :func:`mac`. Units: :func:`to_physical` (px -> mm),
:func:`with_rpm`. Importing this package also registers the ``.vib``
DataArray accessor, which delegates to these functions.
"""

from . import accessor  # noqa: F401  (registers DataArray.vib)
from .conversions import to_physical, with_rpm
from .errors import AnalysisError, BandError, RegionError
from .filters import band_filter, bandpass, bandpass_values, bandstop, check_band, highpass, lowpass
from .regions import as_region, orbit, region_bounds, region_from_text, region_mask, waveform
from .shapes import deflection_shape, mac, shape_magnitude, shape_phase
from .spectra import find_peaks, resolved_peaks, spectrum, systematic_spectrum

__all__ = [
    "bandpass",
    "lowpass",
    "highpass",
    "bandstop",
    "check_band",
    "bandpass_values",
    "band_filter",
    "spectrum",
    "systematic_spectrum",
    "find_peaks",
    "resolved_peaks",
    "region_mask",
    "region_bounds",
    "as_region",
    "region_from_text",
    "waveform",
    "orbit",
    "deflection_shape",
    "shape_magnitude",
    "shape_phase",
    "mac",
    "to_physical",
    "with_rpm",
    "AnalysisError",
    "BandError",
    "RegionError",
]
