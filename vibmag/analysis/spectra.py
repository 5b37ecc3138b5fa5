"""Spectra of displacement (amplitude or PSD) and peak picking.

Definitions
-----------
For a series ``x`` of ``N`` samples at rate ``fs`` (a Welch segment when
``welch`` is given), the mean is removed (``detrend="constant"``), a window
``w`` (Hann by default, periodic) is applied and the discrete Fourier transform
``X_k`` taken; the spectrum is single-sided, ``k = 0 .. N // 2``,
``f_k = k fs / N``.

* ``scaling="amplitude"``: ``A_k = 2 |X_k| / sum(w)`` (``|X_k| / sum(w)`` at 0 Hz
  and at Nyquist). A sinusoid of amplitude ``a`` on a bin reads ``a`` there;
  between bins the Hann window reads up to 15 % low (:func:`find_peaks`
  corrects this). Welch segments are averaged in power (RMS).
* ``scaling="psd"``: ``P_k = 2 |X_k|^2 / (fs sum(w^2))`` in ``units**2/Hz``
  (not doubled at 0 Hz and Nyquist), so ``sum(P_k) * fs / N`` is the mean
  square of the windowed, mean-removed series: its variance (Parseval).

Both come from :func:`scipy.signal.welch` (one segment of the whole record
unless ``welch`` is given).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pint
import xarray as xr
from scipy import optimize, signal

from ..errors import UnitError
from ..units import format_quantity, frequency_hz, hz_to_rpm, parse_quantity, ureg
from ._labels import (accepts_quantified, over_time, power_density_units, require_dims, require_finite,
                      sampling_rate_hz, units_of)
from .errors import AnalysisError
from .regions import crop_to_mask, region_mask

__all__ = ["spectrum", "systematic_spectrum", "find_peaks", "noise_level", "resolved_peaks", "SNR_MIN"]

_AVERAGES = ("amplitude", "displacement")
_SCALINGS = ("amplitude", "psd")
_DETRENDS = ("constant", "linear", None)


@accepts_quantified
def spectrum(da: xr.DataArray, *, region=None, average: str = "amplitude", scaling: str = "amplitude",
             window: str = "hann", welch=None, overlap: float = 0.5, detrend: str | None = "constant") -> xr.DataArray:
    """Single-sided amplitude spectrum (or PSD) of motion, averaged over a region.

    Parameters
    ----------
    da : xarray.DataArray
        Displacement (time, component, y, x), or a waveform (time,) or
        (time, component); any other dims but ``y``/``x`` are kept. Sampling
        rate from ``attrs["frame_rate"]`` or the ``time`` coordinate.
    region : optional
        Where to average (fields with ``y``, ``x`` only): a mask, polygon or
        box as in :func:`vibmag.region_mask`. Default: the whole frame.
    average : {"amplitude", "displacement"}
        "amplitude" (default): the spectrum of every pixel, then their
        (mask-weighted) mean, so modes whose shapes change sign across the
        region do not cancel. "displacement": the spectrum of the region-mean
        waveform, what a sensor glued over the region would read.
    scaling : {"amplitude", "psd"}
        Peak amplitude in the input's units (default), or power spectral
        density in ``units**2/Hz``; see the module docstring.
    window : str
        A SciPy window name: "hann" (default), "flattop" (amplitudes within
        0.1 % between bins, wider peaks), "boxcar", ...
    welch : int or str or pint.Quantity, optional
        Welch segment length, in samples or as a time (``"0.5 s"``). Default:
        one segment, the whole record (finest resolution ``fs / N``).
    overlap : float
        Fraction of overlap between Welch segments, in [0, 1).
    detrend : {"constant", "linear", None}
        Removed from each series (segment) before windowing: its mean
        (default), a fitted line, or nothing.

    Returns
    -------
    xarray.DataArray, dims ("frequency", ...), float64
        E.g. ("frequency", "component"). Coordinate ``frequency`` in Hz.
        Attrs: the input's (``frame_rate``, ``pixel_size``, ...), ``units``
        (input units, or ``units**2/Hz``), and the settings ``scaling``,
        ``window``, ``segment_length`` (samples), ``overlap``, ``average``,
        ``resolution``. Lazy (dask) when the input is.

    Raises
    ------
    AnalysisError
        On unknown options, a segment longer than the record, a region given
        for data without ``y``/``x``, or NaN in the input.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(1000) / 1000.0
    >>> x = xr.DataArray(0.3 * np.sin(2 * np.pi * 50 * t), dims="time", coords={"time": t},
    ...                  attrs={"units": "px"})
    >>> spec = spectrum(x)
    >>> round(float(spec.sel(frequency=50.0)), 6), spec.attrs["units"]
    (0.3, 'px')
    >>> psd = spectrum(x, scaling="psd")
    >>> psd.attrs["units"], round(float(psd.sum()) * 1.0, 4)  # sum * df = variance = 0.3**2 / 2
    ('px**2/Hz', 0.045)
    """
    what = "spectrum"
    fs = sampling_rate_hz(da, what)
    _check_choice("average", average, _AVERAGES)
    _check_choice("scaling", scaling, _SCALINGS)
    _check_choice("detrend", detrend, _DETRENDS)
    nperseg = _segment_length(welch, da.sizes["time"], fs)
    taper = window_array(window, nperseg)
    if not 0 <= overlap < 1:
        raise AnalysisError(f"overlap must be a fraction in [0, 1), got {overlap!r}")
    series, weights = _series_to_transform(da, region, average)
    spec = over_time(_spectrum_core, series, output_dim="frequency", output_size=nperseg // 2 + 1,
                     fs=fs, window=taper, nperseg=nperseg, noverlap=int(round(overlap * nperseg)),
                     detrend=detrend or False, scaling=scaling)
    if weights is not None:
        spec = spec.weighted(weights).mean(("y", "x"), keep_attrs=True)
    freqs = np.fft.rfftfreq(nperseg, 1.0 / fs)
    spec = spec.assign_coords(frequency=("frequency", freqs, {"units": "Hz", "long_name": "frequency"}))
    spec.attrs.update(
        units=units_of(da) if scaling == "amplitude" else power_density_units(units_of(da)),
        long_name="amplitude" if scaling == "amplitude" else "power spectral density",
        scaling=scaling, window=window, segment_length=nperseg, overlap=float(overlap), average=average,
        resolution=format_quantity(fs / nperseg, "Hz"), frame_rate=format_quantity(fs, "Hz"),
    )
    return spec.rename("spectrum").transpose("frequency", ...)


def systematic_spectrum(disp: xr.DataArray, model_error: xr.DataArray, *, spec: xr.DataArray | None = None,
                        **options) -> xr.DataArray:
    """How much the displacement's estimated systematic error changes its amplitude spectrum, per frequency.

    ``|spectrum(disp) - spectrum(disp - model_error)|``: the first-order
    change of the spectrum's amplitude, so the errors of pixels whose sign
    differs across a per-pixel average partly cancel, as they do in the
    spectrum itself. Give it to :func:`find_peaks` as ``systematic``.

    Parameters
    ----------
    disp : xarray.DataArray
        The displacement (time, component, y, x), as for :func:`spectrum`.
    model_error : xarray.DataArray
        Its estimated systematic error, same dims and units:
        ``estimate_displacement(..., return_uncertainty=True)["model_error"]``.
    spec : xarray.DataArray, optional
        ``spectrum(disp, **options)`` if already taken (amplitude scaling), so it is not taken again.
    **options
        :func:`spectrum`'s options (``region``, ``window``, ...), the same as for the peaks' spectrum.

    Returns
    -------
    xarray.DataArray, dims ("frequency", ...)
        As :func:`spectrum` returns, amplitude scaling (``scaling="psd"`` is
        taken as amplitude: the change of a PSD is no amplitude).

    Raises
    ------
    AnalysisError
        If the two differ in dims, shape or units, or ``spec`` is a PSD.
    """
    if model_error.dims != disp.dims or model_error.shape != disp.shape:
        raise AnalysisError(f"model_error must be shaped like the displacement {dict(disp.sizes)}, "
                            f"got {dict(model_error.sizes)}")
    if model_error.attrs.get("units") != disp.attrs.get("units"):
        raise AnalysisError(f"model_error is in {model_error.attrs.get('units')!r}, the displacement in "
                            f"{disp.attrs.get('units')!r}: convert both (vibmag.to_physical) or neither")
    options = {**options, "scaling": "amplitude"}
    if spec is not None and spec.attrs.get("scaling") != "amplitude":
        raise AnalysisError(f"spec must be an amplitude spectrum of the displacement, got scaling "
                            f"{spec.attrs.get('scaling')!r}")
    measured = spectrum(disp, **options) if spec is None else spec
    corrected = spectrum((disp - model_error).assign_attrs(disp.attrs), **options)
    return abs(measured - corrected).assign_attrs(measured.attrs).rename("systematic")


def find_peaks(spec: xr.DataArray, *, n: int | None = None, min_prominence=None, min_distance=None,
               noise=None, systematic: xr.DataArray | None = None) -> xr.Dataset:
    """The peaks of a spectrum as a table: frequency, amplitude, prominence, Q (and, given the noise, SNR).

    Peaks are found on the total spectrum (the root sum of squares of the
    amplitudes over ``component`` and any other non-frequency dims; the sum
    for a PSD) and sorted by its height, largest first. Each peak's frequency
    and amplitude are refined between bins from the ratio of the peak bin to
    its larger neighbour, using the spectrum's window: exact for a sinusoid
    (a Hann spectrum otherwise reads up to 15 % low between bins).

    Parameters
    ----------
    spec : xarray.DataArray, dims ("frequency", ...)
        A spectrum from :func:`spectrum` (its attrs ``scaling``, ``window``,
        ``segment_length`` are used).
    n : int, optional
        Keep the ``n`` largest peaks. Default: all.
    min_prominence : float or str or pint.Quantity, optional
        Minimum prominence on the total spectrum, a number in the spectrum's
        units or a quantity (``"0.01 px"``). Default: 1 % of the total
        spectrum's largest value (0 reports every local maximum).
    min_distance : str or pint.Quantity, optional
        Minimum spacing of peaks (``"5 Hz"``).
    noise : float, str, pint.Quantity, xarray.DataArray or "spectrum", optional
        The displacement's noise, 1 sigma per sample, white: a number in the
        spectrum's amplitude units (or a quantity, ``"0.01 px"``) for every
        component; a DataArray over (some of) the spectrum's other dims, e.g.
        ``component``; or the ``uncertainty`` of
        :func:`vibmag.estimate_displacement` itself (dims such as ``time``,
        ``y``, ``x`` that the spectrum lacks are reduced, NaN skipped: ``time``
        by its RMS, pixels by their mean, as the spectrum averages their
        amplitudes; mask it to the spectrum's region first). ``"spectrum"``
        estimates the noise floor from the spectrum itself, the median of the
        bins 8 to 40 away from each peak (right where noise dominates most of
        those bins). With it the table gains ``noise_floor``, ``amplitude_sigma``
        and ``snr``. Pass the ``noise`` of ``estimate_displacement(...,
        return_uncertainty=True)`` here, not its ``uncertainty``: the latter
        also holds the reference frame's noise, the same in every frame (no
        spectrum above 0 Hz sees it), and the motion-model error, which is no
        noise (see ``systematic``).
    systematic : xarray.DataArray, optional
        What the displacement's estimated systematic error changes the
        spectrum's amplitude by, at every frequency: :func:`systematic_spectrum`,
        taken as ``spec`` was (same frequencies, window, region, averaging and
        units). That error follows the motion, so it stands at the peaks
        themselves and no averaging lowers it. The table gains
        ``amplitude_systematic`` (peak, ...), its size at each peak, which
        ``amplitude_sigma`` then adds in quadrature.

    Returns
    -------
    xarray.Dataset, dim "peak" (and the spectrum's other dims)
        * ``frequency`` (peak): Hz, refined between bins; ``rpm`` (peak) the same in rpm.
        * ``amplitude`` (peak, ...): amplitude of the sinusoid at that
          frequency, per component, in the displacement's units (from a PSD:
          ``sqrt(2 P df ENBW)``, the amplitude of a sinusoid of that power).
        * ``prominence`` (peak): of the total spectrum, in the spectrum's units.
        * ``bandwidth`` (peak): half-power (-3 dB) width in Hz (NaN where the
          spectrum does not fall that low); ``q`` (peak) = frequency / bandwidth.
          Peaks as narrow as the window's own -3 dB width (Hann: 1.44 bins) are
          resolution-limited: their Q says more about the record length than
          about damping.
        * with ``noise`` only: ``noise_floor`` (peak, ...), the mean amplitude
          that noise alone reads at the peak's frequency,
          ``sigma sqrt(pi ENBW / N)`` (ENBW in bins; N the segment length), the
          level a per-pixel-averaged spectrum of pure noise sits at;
          ``amplitude_sigma`` (peak, ...), the 1-sigma of the amplitude,
          ``sigma sqrt(2 ENBW / N) / W(d)`` (exact for one waveform; for
          per-pixel averages, whose noise partly averages out, an upper bound);
          ``snr`` (peak), amplitude over noise floor in the component (or other
          dims' entry) where the peak stands out most: noise alone reads about
          1; a peak below 4 stands within the noise (``SNR_MIN``).
        * ``cycles`` (peak): periods of the peak's frequency within one
          analysed segment (its frequency in bins). Its attr ``min_cycles`` is
          the window's main-lobe half-width in bins (Hann 2, flat top 5): a
          peak nearer 0 Hz than that shares its lobe with the segment's mean and
          trend, so a drift, a step or a transient reads there as a peak; it is
          no resolved vibration (:func:`resolved_peaks`).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(2000) / 1000.0
    >>> x = xr.DataArray(0.5 * np.sin(2 * np.pi * 123.4 * t) + 0.2 * np.sin(2 * np.pi * 40 * t),
    ...                  dims="time", coords={"time": t}, attrs={"units": "px"})
    >>> peaks = find_peaks(spectrum(x), n=2)
    >>> np.round(peaks["frequency"].values, 2), np.round(peaks["amplitude"].values, 3)
    (array([123.4,  40. ]), array([0.5, 0.2]))
    >>> with_noise = find_peaks(spectrum(x), n=2, noise="0.05 px")  # 0.05 px RMS white noise per sample
    >>> np.round(with_noise["amplitude_sigma"].values, 4), np.round(with_noise["snr"].values)
    (array([0.002 , 0.0019]), array([206.,  82.]))
    """
    require_dims(spec, ("frequency",), "find_peaks")
    settings = _spectrum_settings(spec)
    spec = spec.transpose("frequency", ...)
    freqs = np.asarray(spec["frequency"].values, dtype=float)
    df = freqs[1] - freqs[0]
    amplitude = _as_amplitude(np.asarray(spec.values, dtype=float), settings, df)
    total = _total(spec.values, settings["scaling"])
    total_amplitude = _total(amplitude, "amplitude")
    floor = 0.01 * float(total.max()) if min_prominence is None else _prominence(min_prominence, spec)
    found, props = signal.find_peaks(total, prominence=floor,
                                     distance=_distance_bins(min_distance, df))
    order = np.argsort(total[found])[::-1][:n]
    found, prominence = found[order], props["prominences"][order]
    offsets, gains = _refine(total_amplitude, found, settings)
    bandwidth = _half_power_bandwidth(total_amplitude, found, freqs)
    peak_freqs = freqs[found] + offsets * df
    extra = [d for d in spec.dims if d != "frequency"]
    coords = {d: spec[d] for d in extra if d in spec.coords}
    peak_amplitudes = amplitude[found] / gains.reshape(-1, *[1] * len(extra))
    variables = {} if noise is None else _noise_columns(noise, spec, amplitude, found, gains, peak_amplitudes, settings)
    if systematic is not None:
        variables = _with_systematic(variables, _systematic_at(systematic, spec, settings, found, gains, df),
                                     ("peak", *extra), settings)
    table = xr.Dataset(
        {
            "frequency": ("peak", peak_freqs, {"units": "Hz"}),
            "rpm": ("peak", hz_to_rpm(peak_freqs), {"units": "rpm"}),
            "amplitude": (("peak", *extra), peak_amplitudes,
                          {"units": settings["units"], "long_name": "amplitude"}),
            "prominence": ("peak", prominence, {"units": spec.attrs.get("units", "1")}),
            "bandwidth": ("peak", bandwidth, {"units": "Hz", "long_name": "half-power bandwidth"}),
            "q": ("peak", peak_freqs / bandwidth, {"units": "1", "long_name": "quality factor"}),
            "cycles": ("peak", peak_freqs / df, {"units": "1", "long_name": "periods in one segment",
                                                 "min_cycles": _main_lobe_bins(settings["window_name"])}),
            **variables,
        },
        coords=coords,
    )
    return table.assign_attrs({k: spec.attrs[k] for k in ("frame_rate", "pixel_size", "source") if k in spec.attrs})


def resolved_peaks(peaks: xr.Dataset) -> np.ndarray:
    """(peak,) bool: which peaks of a :func:`find_peaks` table are resolved vibrations.

    False where the peak has fewer periods in one segment than the window's
    main lobe is wide (``cycles < cycles.attrs["min_cycles"]``): such a peak
    shares its lobe with 0 Hz, where a drift, a step or a transient reads as
    a peak too. A table without ``cycles`` (made before it existed) counts
    every peak as resolved.
    """
    if "cycles" not in peaks:
        return np.ones(peaks.sizes.get("peak", 0), dtype=bool)
    cycles = peaks["cycles"]
    return np.asarray(cycles.values, dtype=float) >= float(cycles.attrs.get("min_cycles", 0.0))


@lru_cache(maxsize=32)
def _main_lobe_bins(window_name: str) -> float:
    """The main-lobe half-width of a window's spectrum, in bins: its first minimum past the -6 dB point.

    Read off :func:`_window_response` every 1/64 bin up to 16 bins, for the window of 256 samples (the
    width in bins hardly depends on the length; Hann 2, boxcar 1, Blackman 3, flat top 5), once per window.
    """
    bins = np.arange(16 * 64 + 1) / 64.0
    response = _window_response(window_array(window_name, 256), bins)
    start = int(np.flatnonzero(response < 0.5)[0])
    rising = np.flatnonzero(np.diff(response[start:]) > 0)
    return float(bins[start + rising[0]] if rising.size else bins[-1])


#: A peak whose ``snr`` (amplitude over the noise floor) is below this stands within the noise. Noise alone
#: reads above it in one bin of about 300 000 of one waveform's spectrum (Rayleigh: exp(-pi 4^2 / 4)), and
#: more rarely still in a per-pixel average; 3 would let through one bin in 1200.
SNR_MIN = 4.0
#: The noise floor from the spectrum itself (``noise="spectrum"``): the median of the bins this far from the
#: peak (the main lobe and the near side lobes of the peak itself are left out), both sides.
_FLOOR_GAP, _FLOOR_REACH = 8, 40


def _local_median(amplitude: np.ndarray, k: int) -> np.ndarray:
    """Median over the bins 8 to 40 away from bin ``k`` (all bins but those 8 near it when too few)."""
    index = np.concatenate([np.arange(k - _FLOOR_REACH, k - _FLOOR_GAP + 1), np.arange(k + _FLOOR_GAP, k + _FLOOR_REACH + 1)])
    index = index[(index >= 0) & (index < len(amplitude))]
    if index.size < _FLOOR_REACH:
        index = np.flatnonzero(np.abs(np.arange(len(amplitude)) - k) >= _FLOOR_GAP)
    return np.median(amplitude[index], axis=0) if index.size else np.zeros(amplitude.shape[1:])


def _noise_columns(noise, spec: xr.DataArray, amplitude: np.ndarray, found: np.ndarray, gains: np.ndarray,
                   peak_amplitudes: np.ndarray, settings: dict) -> dict:
    """``noise_floor``, ``amplitude_sigma`` and ``snr`` of the peak table (see :func:`find_peaks`)."""
    extra = [d for d in spec.dims if d != "frequency"]
    if isinstance(noise, str) and noise == "spectrum":
        floor = np.stack([_local_median(amplitude, int(k)) for k in found]).reshape(len(found), *amplitude.shape[1:])
        floor = floor * _RAYLEIGH_MEAN_OVER_MEDIAN
    else:
        w = settings["window"]
        enbw_bins = len(w) * np.sum(w**2) / np.sum(w) ** 2
        sigma = _noise_sigma(noise, spec, extra)
        floor = np.broadcast_to(sigma * np.sqrt(np.pi * enbw_bins / len(w)), (len(found), *amplitude.shape[1:]))
    sigma_amplitude = floor * np.sqrt(2.0 / np.pi) / gains.reshape(-1, *[1] * len(extra))
    ratio = np.asarray(peak_amplitudes, dtype=float).reshape(len(found), -1) / np.where(
        floor > 0, floor, np.nan).reshape(len(found), -1)
    units = {"units": settings["units"]}
    return {
        "noise_floor": (("peak", *extra), np.array(floor, dtype=float), {**units, "long_name": "noise floor"}),
        "amplitude_sigma": (("peak", *extra), sigma_amplitude, {**units, "long_name": "amplitude uncertainty (1 sigma)"}),
        "snr": ("peak", np.nanmax(ratio, axis=1, initial=0.0),
                {"units": "1", "long_name": "amplitude over noise floor (best component)"}),
    }


def _systematic_at(systematic: xr.DataArray, spec: xr.DataArray, spec_settings: dict, found: np.ndarray,
                   gains: np.ndarray, df: float) -> np.ndarray:
    """(peak, ...) amplitude of the ``systematic`` error's spectrum at the peaks, refined by the peaks' gains.

    ``spec_settings``: :func:`_spectrum_settings` of the peaks' spectrum ``spec``.
    """
    if not isinstance(systematic, xr.DataArray) or "frequency" not in systematic.dims:
        raise AnalysisError(f"systematic must be a spectrum from vibmag.spectrum, got {type(systematic).__name__}")
    systematic = systematic.transpose("frequency", *[d for d in spec.dims if d != "frequency"])
    if systematic.shape != spec.shape or not np.allclose(systematic["frequency"].values, spec["frequency"].values):
        raise AnalysisError(f"systematic must be a spectrum on the same frequencies and dims as the peaks' spectrum "
                            f"{dict(spec.sizes)}, got {dict(systematic.sizes)}")
    settings, expected = _spectrum_settings(systematic), spec_settings["units"]
    if settings["units"] != expected:
        raise AnalysisError(f"systematic is in {settings['units']!r}, the spectrum's amplitudes in {expected!r}: "
                            f"convert both (vibmag.to_physical) or neither")
    amplitude = _as_amplitude(np.asarray(systematic.values, dtype=float), settings, df)
    return amplitude[found] / gains.reshape(-1, *[1] * (amplitude.ndim - 1))


def _with_systematic(variables: dict, systematic: np.ndarray, dims: tuple, settings: dict) -> dict:
    """The noise columns (if any) with ``amplitude_systematic`` added, and in ``amplitude_sigma`` in quadrature."""
    out = dict(variables)
    if "amplitude_sigma" in variables:
        _, noise_part, attrs = variables["amplitude_sigma"]
        out["amplitude_sigma"] = (dims, np.hypot(noise_part, systematic), attrs)
    out["amplitude_systematic"] = (dims, systematic, {"units": settings["units"],
                                                      "long_name": "amplitude's systematic error (estimated)"})
    return out


#: Mean over median of a Rayleigh distribution, the amplitude of noise in one bin: sqrt(pi / 2) / sqrt(2 ln 2).
_RAYLEIGH_MEAN_OVER_MEDIAN = float(np.sqrt(np.pi / 2) / np.sqrt(2 * np.log(2)))


def noise_level(uncertainty: xr.DataArray, *, keep=("component",)) -> xr.DataArray:
    """The noise a region-averaged spectrum sees, from a per-sample uncertainty field.

    Parameters
    ----------
    uncertainty : xarray.DataArray
        1-sigma per sample, e.g. ``estimate_displacement(...,
        return_uncertainty=True)["noise"]`` (time, component, y, x), the
        frame-to-frame noise a spectrum sees; NaN (unmeasured, or masked out
        of the region) is skipped.
    keep : sequence of str
        Dims kept (default ``component``).

    Returns
    -------
    xarray.DataArray, dims ``keep``
        The RMS over ``time``, then the mean over the other dims (pixels):
        the per-pixel spectrum averages amplitudes, so its noise floor is the
        mean of the pixels' floors. Units as the input's.
    """
    noise = abs(uncertainty.astype(float))
    if "time" in noise.dims and "time" not in keep:
        noise = np.sqrt((noise**2).mean("time", skipna=True))
    level = noise.mean([d for d in noise.dims if d not in keep], skipna=True)
    return level.assign_attrs(units=uncertainty.attrs.get("units", "1"), long_name="noise (1 sigma per sample)")


def _noise_sigma(noise, spec: xr.DataArray, extra: list) -> np.ndarray:
    """The noise's 1-sigma per sample as an array shaped like the spectrum's non-frequency axes."""
    shape = tuple(spec.sizes[d] for d in extra)
    if isinstance(noise, xr.DataArray):
        if "units" in noise.attrs and "units" in spec.attrs:
            noise = noise * _prominence(f"1 {noise.attrs['units']}", spec)
        rms = noise_level(noise, keep=extra)
        missing = [d for d in extra if d not in rms.dims]
        return np.asarray(rms.expand_dims({d: spec[d].values if d in spec.coords else spec.sizes[d]
                                           for d in missing}).transpose(*extra).values, dtype=float)
    value = _prominence(noise, spec)
    if not np.isfinite(value) or value < 0:
        raise AnalysisError(f"noise must be a non-negative 1-sigma amplitude, got {noise!r}")
    return np.full(shape, value)


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise AnalysisError(f"{name} must be one of {choices}, got {value!r}")


def _segment_length(welch, n_time: int, fs: float) -> int:
    """Welch segment length in samples (the whole record when ``welch`` is None)."""
    if welch is None:
        nperseg = n_time
    elif isinstance(welch, (int, np.integer)) and not isinstance(welch, bool):
        nperseg = int(welch)
    else:
        nperseg = int(round(parse_quantity(welch, "time").to("s").magnitude * fs))
    if not 2 <= nperseg <= n_time:
        raise AnalysisError(f"the spectrum segment must hold 2 to {n_time} samples (the record's length), "
                            f"got {nperseg} (welch={welch!r})")
    return nperseg


def window_array(window, nperseg: int) -> np.ndarray:
    """The periodic window array; AnalysisError for names SciPy does not know."""
    if not isinstance(window, str):
        raise AnalysisError(f"window must be a SciPy window name such as 'hann', got {window!r}")
    try:
        return signal.get_window(window, nperseg)
    except ValueError as exc:
        raise AnalysisError(f"unknown window {window!r}: {exc}") from exc


def _series_to_transform(da: xr.DataArray, region, average: str):
    """The series to transform and, for per-pixel averaging, the mask weights to average them with."""
    spatial = {"y", "x"} & set(da.dims)
    if not spatial:
        if region is not None:
            raise AnalysisError(f"region applies to fields with dims 'y' and 'x'; the data has dims {da.dims}")
        return da, None
    require_dims(da, ("y", "x"), "spectrum")
    cropped, weights = crop_to_mask(da, region_mask(da, region))
    if average == "displacement":
        return cropped.weighted(weights).mean(("y", "x"), keep_attrs=True), None
    return cropped, weights


def _spectrum_core(x: np.ndarray, *, fs, window, nperseg, noverlap, detrend, scaling) -> np.ndarray:
    """Core: single-sided amplitude or PSD along the last axis of ``x``."""
    require_finite(x, "spectrum")
    _, power = signal.welch(np.asarray(x, dtype=np.float64), fs=fs, window=window, nperseg=nperseg,
                            noverlap=noverlap, detrend=detrend, axis=-1,
                            scaling="density" if scaling == "psd" else "spectrum")
    if scaling == "psd":
        return power
    return np.sqrt(power * _one_sided_doubling(nperseg))


def _one_sided_doubling(nperseg: int) -> np.ndarray:
    """2 for bins that stand for a positive and a negative frequency, 1 at 0 Hz (and Nyquist, N even)."""
    factor = np.full(nperseg // 2 + 1, 2.0)
    factor[0] = 1.0
    if nperseg % 2 == 0:
        factor[-1] = 1.0
    return factor


def _spectrum_settings(spec: xr.DataArray) -> dict:
    """Scaling, window, segment length and amplitude units of a vibmag spectrum."""
    missing = [k for k in ("scaling", "window", "segment_length") if k not in spec.attrs]
    if missing:
        raise AnalysisError(f"find_peaks expects a spectrum from vibmag.spectrum; attrs {missing} are missing")
    scaling = spec.attrs["scaling"]
    units = spec.attrs.get("units", "1")
    if scaling == "psd":
        units = _amplitude_units(units)
    window = window_array(spec.attrs["window"], int(spec.attrs["segment_length"]))
    return {"scaling": scaling, "window": window, "window_name": spec.attrs["window"], "units": units}


def _amplitude_units(psd_units: str) -> str:
    """'px**2/Hz' -> 'px': the units of an amplitude whose PSD has ``psd_units``."""
    root = (ureg.Unit(psd_units) * ureg.Unit("Hz")) ** 0.5
    return f"{root:~C}" if root != ureg.dimensionless else "1"


def _as_amplitude(values: np.ndarray, settings: dict, df: float) -> np.ndarray:
    """Spectrum values (frequency first) as sinusoid amplitudes: PSD -> sqrt(2 P df ENBW)."""
    if settings["scaling"] == "amplitude":
        return values
    w = settings["window"]
    enbw_bins = len(w) * np.sum(w**2) / np.sum(w) ** 2
    return np.sqrt(2.0 * values * df * enbw_bins)


def _total(values: np.ndarray, scaling: str) -> np.ndarray:
    """Combine all non-frequency axes: root sum of squares (amplitude) or sum (PSD)."""
    flat = values.reshape(values.shape[0], -1)
    return np.sqrt((flat**2).sum(axis=1)) if scaling == "amplitude" else flat.sum(axis=1)


def _prominence(min_prominence, spec: xr.DataArray) -> float:
    """Minimum prominence as a number in the spectrum's units."""
    if isinstance(min_prominence, (int, float)):
        return float(min_prominence)
    units = spec.attrs.get("units", "1")
    try:
        quantity = min_prominence if isinstance(min_prominence, pint.Quantity) else ureg.Quantity(min_prominence)
        return float(ureg.Quantity(quantity.magnitude, str(quantity.units)).to(units).magnitude)
    except (pint.errors.PintError, ValueError, TypeError) as exc:
        raise UnitError(f"min_prominence {min_prominence!r} cannot be read in the spectrum's units {units!r}") from exc


def _distance_bins(min_distance, df: float) -> int | None:
    """Minimum peak spacing in bins (None: no limit)."""
    if min_distance is None:
        return None
    return max(1, int(np.ceil(frequency_hz(min_distance) / df)))


def _refine(amplitude: np.ndarray, peaks: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (bins) of the true frequencies from the peak bins, and the window gain there.

    The window's amplitude response ``W(d)`` (1 at ``d = 0``) gives, for a
    sinusoid ``d`` bins from bin ``k`` toward its larger neighbour, the ratio
    ``W(1 - d) / W(d)`` of the two bins; inverting it gives ``d``, and the
    sinusoid's amplitude is the bin's value divided by ``W(d)``. Exact for a
    pure tone whatever the window. For windows whose main lobe is flat over a
    bin (flat-top: ``W(1) > 0.7``) that ratio hardly changes with ``d``, so
    noise moves the estimate a lot; there the ratio's estimate starts a
    least-squares fit of ``a W(k - k0)`` to the five bins around the peak
    (:func:`_fit_response`), 3 to 7 times less scatter in frequency.
    """
    window = settings["window"]
    d, gain, ratio, flat_top = _ratio_table(settings["window_name"], len(window))
    offsets, gains = np.zeros(len(peaks)), np.ones(len(peaks))
    for i, k in enumerate(peaks):
        left, right = amplitude[k - 1], amplitude[k + 1]
        side = 1.0 if right >= left else -1.0
        observed = max(left, right) / amplitude[k]
        offset = float(np.interp(observed, ratio, d))  # ratio rises monotonically with d
        offsets[i], gains[i] = side * offset, float(np.interp(offset, d, gain))
        if flat_top and _FIT_HALF_WIDTH <= k < len(amplitude) - _FIT_HALF_WIDTH:
            offsets[i], gains[i] = _fit_response(amplitude, int(k), offsets[i], window)
    return offsets, gains


#: A window whose response one bin off the tone exceeds this is "flat-top": peaks are fitted, not read from a ratio.
_FLAT_TOP_RESPONSE = 0.7
#: Bins on each side of the peak bin that the flat-top least-squares fit uses.
_FIT_HALF_WIDTH = 2


def _fit_response(amplitude: np.ndarray, k: int, offset: float, window: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(offset, gain)``: ``amplitude[k + j] ~ a W(j - offset)`` for ``|j| <= 2``, started at ``offset``.

    Returned as the offset (bins, within +-1 of ``k``) and ``W(0)``-relative
    gain ``amplitude[k] / a``, the form :func:`_refine` returns.
    """
    j = np.arange(-_FIT_HALF_WIDTH, _FIT_HALF_WIDTH + 1, dtype=float)
    observed = amplitude[k - _FIT_HALF_WIDTH : k + _FIT_HALF_WIDTH + 1]

    def misfit(params):
        return params[0] * _window_response(window, j - params[1]) - observed

    start = [amplitude[k] / float(_window_response(window, np.array([offset]))[0]), offset]
    fit = optimize.least_squares(misfit, start, x_scale=[max(start[0], 1e-300), 0.1], bounds=([0.0, -1.0], [np.inf, 1.0]))
    a, fitted = fit.x
    if not np.isfinite(a) or a <= 0:
        return offset, float(_window_response(window, np.array([offset]))[0])
    return float(fitted), float(amplitude[k] / a)


@lru_cache(maxsize=32)
def _ratio_table(window_name: str, nperseg: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """For offsets ``d`` in [0, 0.5]: ``(d, W(d), W(1 - d) / W(d), flat-top?)`` of a window (cached per window)."""
    window = window_array(window_name, nperseg)
    d = np.linspace(0.0, 0.5, 501)
    response = _window_response(window, np.concatenate([d, 1.0 - d]))
    gain, ratio = response[: d.size], response[d.size:] / response[: d.size]
    flat_top = float(_window_response(window, np.array([1.0]))[0]) > _FLAT_TOP_RESPONSE
    return d, gain, ratio, flat_top


def _window_response(window: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Normalised amplitude response of the window ``bins`` bins from a sinusoid."""
    phase = 2 * np.pi * np.outer(bins, np.arange(len(window))) / len(window)
    return np.hypot(np.cos(phase) @ window, np.sin(phase) @ window) / window.sum()


def _half_power_bandwidth(amplitude: np.ndarray, peaks: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Width (Hz) between the -3 dB (amplitude / sqrt 2) crossings around each peak; NaN if none."""
    widths = np.full(len(peaks), np.nan)
    for i, k in enumerate(peaks):
        level = amplitude[k] / np.sqrt(2.0)
        below = np.flatnonzero(amplitude < level)
        left, right = below[below < k], below[below > k]
        if left.size and right.size:
            widths[i] = _crossing(freqs, amplitude, right[0] - 1, right[0], level) - _crossing(
                freqs, amplitude, left[-1], left[-1] + 1, level)
    return widths


def _crossing(freqs: np.ndarray, amplitude: np.ndarray, a: int, b: int, level: float) -> float:
    """Frequency where the line between bins a and b reaches ``level``."""
    fraction = (level - amplitude[a]) / (amplitude[b] - amplitude[a])
    return float(freqs[a] + fraction * (freqs[b] - freqs[a]))
