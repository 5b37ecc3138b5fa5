"""vibmag: see and measure vibration too small for the eye.

The public entry points are those of the API contract (shared API.md); they
are imported lazily so ``import vibmag`` stays fast and torch is loaded only
when a flow or magnification function is first used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "open_recording": "vibmag.io",
    "save": "vibmag.io.hdf5",
    "load": "vibmag.io.hdf5",
    "write_video": "vibmag.io.video_write",
    "make_recording": "vibmag.recording",
    "iter_frame_chunks": "vibmag.recording",
    "frame_rate_hz": "vibmag.recording",
    "pixel_size_mm": "vibmag.recording",
    "ureg": "vibmag.units",
    "estimate_displacement": "vibmag.flow",
    "magnify": "vibmag.pipeline",
    "report": "vibmag.reporting",
    "load_model": "vibmag.magnification",
    "adapt": "vibmag.magnification",
    "Magnifier": "vibmag.magnification",
    "bandpass": "vibmag.analysis",
    "lowpass": "vibmag.analysis",
    "highpass": "vibmag.analysis",
    "bandstop": "vibmag.analysis",
    "spectrum": "vibmag.analysis",
    "region_mask": "vibmag.analysis",
    "to_physical": "vibmag.analysis",
    "find_peaks": "vibmag.analysis",
    "systematic_spectrum": "vibmag.analysis",
    "waveform": "vibmag.analysis",
    "orbit": "vibmag.analysis",
    "deflection_shape": "vibmag.analysis",
    "shape_magnitude": "vibmag.analysis",
    "shape_phase": "vibmag.analysis",
    "mac": "vibmag.analysis",
    "with_rpm": "vibmag.analysis",
    "AnalysisError": "vibmag.analysis",
    "BandError": "vibmag.analysis",
    "RegionError": "vibmag.analysis",
    "VibmagError": "vibmag.errors",
    "RecordingError": "vibmag.errors",
    "UnitError": "vibmag.errors",
}
_SUBMODULES = {"synthetic", "units", "io", "sample_data", "recording", "errors", "flow", "analysis", "viz", "batch", "reporting"}

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"vibmag.{name}")
    else:
        raise AttributeError(f"module 'vibmag' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
