"""Errors raised by vibmag's analysis layer.

Each derives from :class:`vibmag.errors.VibmagError` and from ``ValueError``, so
callers can catch vibmag's complaints about their input apart from bugs.
"""

from __future__ import annotations

from ..errors import VibmagError

__all__ = ["AnalysisError", "BandError", "RegionError"]


class AnalysisError(VibmagError, ValueError):
    """Data or options that an analysis function cannot work with (missing dims, NaNs, ...)."""


class BandError(AnalysisError):
    """A frequency band that the data cannot support (above Nyquist, low >= high, too few samples)."""


class RegionError(AnalysisError):
    """A region that does not fit the frame (wrong mask shape, box outside the frame, empty)."""
