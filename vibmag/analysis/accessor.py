"""The ``.vib`` accessor: ``da.vib.bandpass("20 Hz", "80 Hz")`` and friends.

Every method only delegates to the function of the same name in
:mod:`vibmag.analysis`, passing the DataArray first; see those for the
parameters.

Examples
--------
>>> import numpy as np, xarray as xr
>>> import vibmag.analysis  # registers the accessor
>>> t = np.arange(1000) / 1000.0
>>> x = xr.DataArray(np.sin(2 * np.pi * 50 * t), dims="time", coords={"time": t}, attrs={"units": "px"})
>>> round(float(x.vib.spectrum().sel(frequency=50.0)), 6)
1.0
"""

from __future__ import annotations

import xarray as xr

from . import conversions, filters, regions, shapes, spectra


@xr.register_dataarray_accessor("vib")
class VibAccessor:
    """Vibration analysis methods on a DataArray; each calls :mod:`vibmag.analysis`."""

    def __init__(self, da: xr.DataArray):
        self._da = da

    def bandpass(self, low, high, **options):
        """:func:`vibmag.analysis.bandpass` of this DataArray."""
        return filters.bandpass(self._da, low, high, **options)

    def lowpass(self, cutoff, **options):
        """:func:`vibmag.analysis.lowpass` of this DataArray."""
        return filters.lowpass(self._da, cutoff, **options)

    def highpass(self, cutoff, **options):
        """:func:`vibmag.analysis.highpass` of this DataArray."""
        return filters.highpass(self._da, cutoff, **options)

    def bandstop(self, bands, **options):
        """:func:`vibmag.analysis.bandstop` of this DataArray."""
        return filters.bandstop(self._da, bands, **options)

    def spectrum(self, **options):
        """:func:`vibmag.analysis.spectrum` of this DataArray."""
        return spectra.spectrum(self._da, **options)

    def find_peaks(self, **options):
        """:func:`vibmag.analysis.find_peaks` of this spectrum."""
        return spectra.find_peaks(self._da, **options)

    def waveform(self, **options):
        """:func:`vibmag.analysis.waveform` of this displacement."""
        return regions.waveform(self._da, **options)

    def orbit(self, **options):
        """:func:`vibmag.analysis.orbit` of this displacement."""
        return regions.orbit(self._da, **options)

    def deflection_shape(self, frequency, **options):
        """:func:`vibmag.analysis.deflection_shape` of this displacement."""
        return shapes.deflection_shape(self._da, frequency, **options)

    def to_physical(self, **options):
        """:func:`vibmag.analysis.to_physical` of this DataArray."""
        return conversions.to_physical(self._da, **options)
