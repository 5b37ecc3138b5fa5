"""Zero-phase temporal filters along ``time``: band-pass, low-pass, high-pass, band-stop.

Every filter here runs forwards and backwards over each time series
(:func:`scipy.signal.sosfiltfilt` for Butterworth filters in second-order
sections, :func:`scipy.signal.filtfilt` for FIR filters), so it shifts no
phase: a filtered mode keeps its timing, which motion magnification and
deflection shapes rely on.

Conventions
-----------
* Frequencies are pint quantities or strings (``"20 Hz"``, ``"1.2 kHz"``,
  ``"1200 rpm"`` = 20 Hz); bare numbers are refused.
* The sampling rate is ``da.attrs["frame_rate"]``, else the spacing of a
  uniform ``time`` coordinate.
* Running the filter twice squares its magnitude response: a Butterworth edge
  (-3 dB once) passes amplitude 0.5 (-6 dB) after filtering, and the stop-band
  attenuation in dB doubles.
* Edges of the record: the filter's transient lasts roughly ``order / (high -
  low)`` seconds (longer for narrow bands). Each series is padded at both ends
  before filtering (``padtype``, ``padlen``, as in SciPy) to soften it; treat
  the first and last transient's worth of samples with care.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pint
import xarray as xr
from scipy import signal

from ..units import frequency_hz
from ._labels import accepts_quantified, float_dtype, over_time, require_finite, sampling_rate_hz
from .errors import AnalysisError, BandError

__all__ = ["bandpass", "lowpass", "highpass", "bandstop", "check_band", "bandpass_values", "band_filter"]

_METHODS = ("butter", "fir")
_PADTYPES = ("odd", "even", "constant", None)
#: Stop-band attenuation (dB, one pass) of the automatically sized FIR filters.
FIR_ATTENUATION_DB = 60.0


@accepts_quantified
def bandpass(da: xr.DataArray, low, high, *, order: int = 4, method: str = "butter",
             numtaps: int | None = None, padtype: str | None = "odd", padlen: int | None = None) -> xr.DataArray:
    """Zero-phase band-pass filter along ``time``.

    Parameters
    ----------
    da : xarray.DataArray, dims (..., "time", ...)
        Any data with a ``time`` dim, e.g. displacement (time, component, y, x)
        in px. NumPy- or dask-backed; dask data may be chunked over every dim
        but time (time is rechunked to one chunk).
    low, high : str or pint.Quantity
        Band edges, e.g. ``"20 Hz"``, ``"1200 rpm"``; ``0 < low < high < Nyquist``.
    order : int
        Order of the Butterworth prototype (``method="butter"``); the band-pass
        has twice this order, and the zero-phase pass doubles it again.
    method : {"butter", "fir"}
        Butterworth in second-order sections (default), or a linear-phase FIR
        (Kaiser window, ``FIR_ATTENUATION_DB`` stop band, transition width half
        the narrowest gap between band edges, 0 and Nyquist). FIR filters of
        low edges need many taps, hence long records.
    numtaps : int, optional
        Length of the FIR filter (odd; ``method="fir"`` only). Default: sized
        from the transition width as above.
    padtype : {"odd", "even", "constant", None}
        How each series is extended at both ends before filtering (SciPy's
        ``padtype``); None filters without padding.
    padlen : int, optional
        Samples of padding at each end. Default: SciPy's (three times the
        filter length); the record must be longer than the padding.

    Returns
    -------
    xarray.DataArray
        Same dims, coords, attrs (``units`` included) and dtype (float32 stays
        float32; other data become float64) as ``da``.

    Raises
    ------
    vibmag.UnitError
        If a frequency is not a frequency (``"20 mm"``) or has no unit.
    BandError
        If the band is not ``0 < low < high < Nyquist`` (the message gives the
        Nyquist frequency) or the record is too short for the padding (the
        message gives the samples needed).
    AnalysisError
        If the data have no ``time`` dim, or hold NaN or infinite values.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(2000) / 1000.0
    >>> x = xr.DataArray(np.sin(2 * np.pi * 40 * t) + np.sin(2 * np.pi * 5 * t), dims="time",
    ...                  coords={"time": t}, attrs={"units": "px", "frame_rate": "1000 Hz"})
    >>> y = bandpass(x, "20 Hz", "80 Hz")
    >>> bool(np.allclose(y[500:1500], np.sin(2 * np.pi * 40 * t[500:1500]), atol=1e-3))
    True
    >>> y.attrs["units"]
    'px'
    """
    edges = [("low", low), ("high", high)]
    return _filter(da, "bandpass", edges, order=order, method=method, numtaps=numtaps,
                   padtype=padtype, padlen=padlen, what="bandpass")


@accepts_quantified
def lowpass(da: xr.DataArray, cutoff, *, order: int = 4, method: str = "butter",
            numtaps: int | None = None, padtype: str | None = "odd", padlen: int | None = None) -> xr.DataArray:
    """Zero-phase low-pass filter along ``time``: keeps motion below ``cutoff``.

    Parameters
    ----------
    da : xarray.DataArray, dims (..., "time", ...)
        As in :func:`bandpass`.
    cutoff : str or pint.Quantity
        Cut-off frequency, ``0 < cutoff < Nyquist`` (amplitude 0.5 there).
    order, method, numtaps, padtype, padlen
        As in :func:`bandpass`.

    Returns
    -------
    xarray.DataArray
        Same dims, coords, attrs and units as ``da``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(2000) / 1000.0
    >>> x = xr.DataArray(np.sin(2 * np.pi * 5 * t) + np.sin(2 * np.pi * 200 * t), dims="time",
    ...                  coords={"time": t}, attrs={"units": "px"})
    >>> y = lowpass(x, "50 Hz")
    >>> bool(np.allclose(y[500:1500], np.sin(2 * np.pi * 5 * t[500:1500]), atol=1e-3))
    True
    """
    return _filter(da, "lowpass", [("cutoff", cutoff)], order=order, method=method, numtaps=numtaps,
                   padtype=padtype, padlen=padlen, what="lowpass")


@accepts_quantified
def highpass(da: xr.DataArray, cutoff, *, order: int = 4, method: str = "butter",
             numtaps: int | None = None, padtype: str | None = "odd", padlen: int | None = None) -> xr.DataArray:
    """Zero-phase high-pass filter along ``time``: removes drift and motion below ``cutoff``.

    Parameters and result as in :func:`lowpass` (same dims, coords, attrs and
    units as ``da``); ``0 < cutoff < Nyquist``, amplitude 0.5 there.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(2000) / 1000.0
    >>> x = xr.DataArray(0.3 * t + np.sin(2 * np.pi * 60 * t), dims="time", coords={"time": t})
    >>> y = highpass(x, "20 Hz")
    >>> bool(np.allclose(y[500:1500], np.sin(2 * np.pi * 60 * t[500:1500]), atol=1e-3))
    True
    """
    return _filter(da, "highpass", [("cutoff", cutoff)], order=order, method=method, numtaps=numtaps,
                   padtype=padtype, padlen=padlen, what="highpass")


@accepts_quantified
def bandstop(da: xr.DataArray, bands, *, order: int = 4, method: str = "butter",
             numtaps: int | None = None, padtype: str | None = "odd", padlen: int | None = None) -> xr.DataArray:
    """Zero-phase band-stop (notch) filter along ``time``, for one band or several at once.

    Parameters
    ----------
    da : xarray.DataArray, dims (..., "time", ...)
        As in :func:`bandpass`.
    bands : (low, high) or sequence of (low, high)
        One band, ``("48 Hz", "52 Hz")``, or several, ``[("48 Hz", "52 Hz"),
        ("98 Hz", "102 Hz")]``; they must not overlap. Several bands are
        removed by one filter (Butterworth sections in cascade, or one
        multi-band FIR); chaining calls does the same.
    order, method, numtaps, padtype, padlen
        As in :func:`bandpass` (``order`` per band).

    Returns
    -------
    xarray.DataArray
        Same dims, coords, attrs and units as ``da``.

    Raises
    ------
    BandError
        If a band is not ``0 < low < high < Nyquist``, bands overlap, or the
        record is too short for the padding.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(4000) / 1000.0
    >>> hum = np.sin(2 * np.pi * 50 * t) + np.sin(2 * np.pi * 100 * t)
    >>> x = xr.DataArray(np.sin(2 * np.pi * 13 * t) + hum, dims="time", coords={"time": t})
    >>> y = bandstop(x, [("45 Hz", "55 Hz"), ("95 Hz", "105 Hz")])
    >>> bool(np.allclose(y[1000:3000], np.sin(2 * np.pi * 13 * t[1000:3000]), atol=1e-2))
    True
    """
    edges = []
    for i, (low, high) in enumerate(_as_band_list(bands), start=1):
        edges += [(f"band {i} low", low), (f"band {i} high", high)]
    return _filter(da, "bandstop", edges, order=order, method=method, numtaps=numtaps,
                   padtype=padtype, padlen=padlen, what="bandstop")


def check_band(band, frame_rate_hz: float, *, n_time: int | None = None, order: int = 4) -> tuple[float, float]:
    """Check a ``(low, high)`` band for a recording before long work starts; return the edges in Hz.

    Parameters
    ----------
    band : pair of str or pint.Quantity
        ``("15 Hz", "35 Hz")``.
    frame_rate_hz : float
        The recording's capture rate.
    n_time : int, optional
        Frames in the record: checked against the padding of the zero-phase
        Butterworth band-pass of ``order`` that :func:`bandpass` would run.

    Raises
    ------
    BandError, vibmag.UnitError
        As :func:`bandpass` would, before any work is done.
    """
    if not _is_band(band):
        raise BandError(f"a band is a (low, high) pair such as ('15 Hz', '35 Hz'), got {band!r}")
    edges_hz = [frequency_hz(value) for value in band]
    _check_edges(["low", "high"], edges_hz, frame_rate_hz, "band")
    if n_time is not None:
        design = _design("bandpass", edges_hz, frame_rate_hz, order=order, method="butter", numtaps=None)
        _check_padding(design, n_time, "odd", None, "band")
    return edges_hz[0], edges_hz[1]


def bandpass_values(values: np.ndarray, low_hz: float, high_hz: float, frame_rate_hz: float, *,
                    order: int = 4, axis: int = 0) -> np.ndarray:
    """The plain-array core of :func:`bandpass`: zero-phase Butterworth band-pass along one axis.

    What the pipeline calls between its layers, where frequencies are already
    floats in Hz (units are parsed once, at the front door).

    Parameters
    ----------
    values : numpy.ndarray, shape (..., time, ...)
        Samples, time along ``axis``; finite.
    low_hz, high_hz : float
        Band edges in Hz, ``0 < low_hz < high_hz < frame_rate_hz / 2``.
    frame_rate_hz : float
        Sampling rate of ``axis``, Hz.
    order : int
        Order of the Butterworth prototype, as in :func:`bandpass`.
    axis : int
        The time axis.

    Returns
    -------
    numpy.ndarray
        Same shape; float32 stays float32, other data become float64.
        Identical to :func:`bandpass` of the same samples.

    Raises
    ------
    BandError, AnalysisError
        As :func:`bandpass`.

    Examples
    --------
    >>> t = np.arange(1000) / 500.0
    >>> x = np.stack([np.sin(2 * np.pi * 40 * t) + np.sin(2 * np.pi * 3 * t)] * 2, axis=1)  # (time, 2)
    >>> y = bandpass_values(x, 30.0, 50.0, 500.0)
    >>> bool(np.allclose(y[250:750], np.sin(2 * np.pi * 40 * t[250:750])[:, None], atol=1e-2))
    True
    """
    edges_hz = [float(low_hz), float(high_hz)]
    _check_edges(["low", "high"], edges_hz, frame_rate_hz, "bandpass")
    design = _design("bandpass", edges_hz, frame_rate_hz, order=order, method="butter", numtaps=None)
    values = np.asarray(values)
    padlen = _check_padding(design, values.shape[axis], "odd", None, "bandpass")
    moved = np.moveaxis(values, axis, -1)
    return np.moveaxis(_zero_phase(moved, design=design, padtype="odd", padlen=padlen, what="bandpass"), -1, axis)


def band_filter(low_hz: float, high_hz: float, frame_rate_hz: float, *, order: int = 4, axis: int = 0):
    """:func:`bandpass_values` over one band as a temporal filter: a function of the samples alone.

    What the magnifiers take as their ``temporal`` filter, and what
    :class:`vibmag.streaming.TemporalStore` applies tile by tile.

    Returns
    -------
    callable
        ``f(values) -> filtered values``, time along ``axis``, same shape.
    """
    return lambda values: bandpass_values(values, low_hz, high_hz, frame_rate_hz, order=order, axis=axis)


def _as_band_list(bands) -> list[tuple]:
    """``(low, high)`` or ``[(low, high), ...]`` -> list of (low, high) pairs."""
    if _is_band(bands):
        return [tuple(bands)]
    if isinstance(bands, Sequence) and not isinstance(bands, str) and bands and all(_is_band(b) for b in bands):
        return [tuple(b) for b in bands]
    raise BandError(f"bands must be a (low, high) pair or a sequence of such pairs, got {bands!r}")


def _is_band(value) -> bool:
    """True for a (low, high) pair of scalars (strings, quantities or numbers)."""
    scalar = (str, pint.Quantity, int, float)
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
            and all(isinstance(v, scalar) for v in value))


def _filter(da, btype, edges, *, order, method, numtaps, padtype, padlen, what) -> xr.DataArray:
    """Check the options, design the filter and run it forwards-backwards along time."""
    fs = sampling_rate_hz(da, what)
    edges_hz = [frequency_hz(value) for _, value in edges]
    _check_edges([name for name, _ in edges], edges_hz, fs, what)
    design = _design(btype, edges_hz, fs, order=order, method=method, numtaps=numtaps)
    padlen = _check_padding(design, da.sizes["time"], padtype, padlen, what)
    return over_time(_zero_phase, da, dtype=float_dtype(da.dtype), design=design, padtype=padtype,
                     padlen=padlen, what=what)


def _check_edges(names: list[str], edges_hz: list[float], fs: float, what: str) -> None:
    """Raise BandError unless 0 < edge_1 < edge_2 < ... < Nyquist."""
    nyquist = fs / 2
    for name, hz in zip(names, edges_hz):
        if hz <= 0:
            raise BandError(f"{what}: {name} = {hz:.6g} Hz must be above 0 Hz")
        if hz >= nyquist:
            raise BandError(
                f"{what}: {name} = {hz:.6g} Hz is at or above the Nyquist frequency {nyquist:.6g} Hz "
                f"(half the frame rate {fs:.6g} Hz)"
            )
    for (name_a, a), (name_b, b) in zip(zip(names, edges_hz), zip(names[1:], edges_hz[1:])):
        if a >= b:
            relation = "overlap or are out of order" if what == "bandstop" else "are out of order"
            raise BandError(f"{what}: {name_a} = {a:.6g} Hz must be below {name_b} = {b:.6g} Hz "
                            f"(bands {relation})")


class _Butterworth:
    """Butterworth filter in second-order sections, run with scipy.signal.sosfiltfilt."""

    advice = "a lower order"

    def __init__(self, sos: np.ndarray):
        self.sos = sos

    def default_padlen(self) -> int:
        """SciPy's default padding for sosfiltfilt."""
        zeros = min(int((self.sos[:, 2] == 0).sum()), int((self.sos[:, 5] == 0).sum()))
        return 3 * (2 * len(self.sos) + 1 - zeros)

    def apply(self, x: np.ndarray, padtype, padlen: int) -> np.ndarray:
        return signal.sosfiltfilt(self.sos, x, axis=-1, padtype=padtype, padlen=padlen)


class _FIR:
    """Linear-phase FIR filter, run with scipy.signal.filtfilt."""

    advice = "fewer numtaps"

    def __init__(self, taps: np.ndarray):
        self.taps = taps

    def default_padlen(self) -> int:
        """SciPy's default padding for filtfilt."""
        return 3 * len(self.taps)

    def apply(self, x: np.ndarray, padtype, padlen: int) -> np.ndarray:
        return signal.filtfilt(self.taps, [1.0], x, axis=-1, padtype=padtype, padlen=padlen)


def _design(btype: str, edges_hz: list[float], fs: float, *, order: int, method: str, numtaps):
    """Design the filter: a _Butterworth or a _FIR."""
    if method not in _METHODS:
        raise AnalysisError(f"method must be one of {_METHODS}, got {method!r}")
    if method == "butter":
        if numtaps is not None:
            raise AnalysisError("numtaps applies to method='fir'; Butterworth filters take order=")
        if not isinstance(order, int) or order < 1:
            raise AnalysisError(f"order must be a positive integer, got {order!r}")
        return _Butterworth(_butter_sos(btype, edges_hz, fs, order))
    return _FIR(_fir_taps(btype, edges_hz, fs, numtaps))


def _butter_sos(btype: str, edges_hz: list[float], fs: float, order: int) -> np.ndarray:
    """Second-order sections; several stop bands are cascaded."""
    if btype != "bandstop":
        wn = edges_hz[0] if len(edges_hz) == 1 else edges_hz
        return signal.butter(order, wn, btype=btype, fs=fs, output="sos")
    bands = zip(edges_hz[::2], edges_hz[1::2])
    return np.concatenate([signal.butter(order, band, btype="bandstop", fs=fs, output="sos") for band in bands])


def _fir_taps(btype: str, edges_hz: list[float], fs: float, numtaps) -> np.ndarray:
    """Kaiser-window FIR taps, sized for FIR_ATTENUATION_DB unless ``numtaps`` is given."""
    nyquist = fs / 2
    gaps = np.diff([0.0, *edges_hz, nyquist])
    numtaps_auto, beta = signal.kaiserord(FIR_ATTENUATION_DB, float(gaps.min()) / 2 / nyquist)
    if numtaps is None:
        numtaps = numtaps_auto | 1
    elif not isinstance(numtaps, int) or numtaps < 3 or numtaps % 2 == 0:
        raise AnalysisError(f"numtaps must be an odd integer >= 3, got {numtaps!r}")
    pass_zero = btype in ("lowpass", "bandstop")
    return signal.firwin(numtaps, edges_hz, window=("kaiser", beta), pass_zero=pass_zero, fs=fs)


def _check_padding(design, n_time: int, padtype, padlen, what: str) -> int:
    """The padding to use; raise BandError when the record is too short for it."""
    if padtype not in _PADTYPES:
        raise AnalysisError(f"padtype must be one of {_PADTYPES}, got {padtype!r}")
    if padtype is None:
        return 0
    if padlen is None:
        padlen = design.default_padlen()
    elif not isinstance(padlen, int) or padlen < 0:
        raise AnalysisError(f"padlen must be a non-negative integer, got {padlen!r}")
    if n_time <= padlen:
        raise BandError(
            f"{what} needs more than {padlen} samples along time for the filter's padding "
            f"(padlen={padlen}), got {n_time}; use a longer record, {design.advice}, or a smaller padlen"
        )
    return padlen


def _zero_phase(x: np.ndarray, *, design, padtype, padlen: int, what: str) -> np.ndarray:
    """Core: filter ``x`` forwards and backwards along its last axis."""
    require_finite(x, what)
    filtered = design.apply(np.asarray(x, dtype=np.float64), padtype, padlen)
    return filtered.astype(float_dtype(x.dtype), copy=False)

