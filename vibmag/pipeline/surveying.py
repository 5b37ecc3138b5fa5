"""A recording's vibration at a glance: displacement summary, spectrum, peaks, dominant band.

:func:`survey` is what ``vibmag analyze``, ``vibmag demo``, the batch runner
and the napari plugin compute for a recording; :func:`plot_survey` draws it.
Its pieces are shared with the tiled reductions of the batch runner:
:func:`motion_maps` (RMS and peak-to-peak maps) and :func:`band_around` (the
band magnified around a peak).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis import AnalysisError, find_peaks, region_mask, spectrum, systematic_spectrum, waveform
from ..analysis.spectra import noise_level
from ..flow import check_flow_options, estimate_displacement
from ..flow.api import supports_uncertainty
from ..units import frequency_hz
from ..viz import plot_spectrum, plot_waveform

__all__ = ["survey", "dominant_band", "band_around", "motion_maps", "peak_table", "plot_survey"]


def survey(ds: xr.Dataset, *, region=None, n_peaks: int = 5, flow_method: str | None = None,
           flow_options: dict | None = None, progress=None, cancel: threading.Event | None = None,
           displacement: xr.DataArray | xr.Dataset | None = None) -> xr.Dataset:
    """Measure a recording's displacement and summarise its vibration.

    Parameters
    ----------
    ds : xarray.Dataset
        A recording (:func:`vibmag.open_recording`).
    region : mask, polygon or box, optional
        Where the spectrum and waveform are taken (default: whole frame).
    n_peaks : int
        Peaks to list.
    flow_method : str, optional
        Flow estimator (default vibmag's).
    flow_options : dict, optional
        Its options (:func:`vibmag.flow.get_estimator`), e.g. ``{"highpass": 4.0}``
        so a lighting change is not read as motion (docs/flow.md).
    progress : callable, bool or None
        Progress of the displacement estimate: ``progress(done, total)``, or a
        bar as in :func:`vibmag.estimate_displacement` (None: on a terminal).
    cancel : threading.Event, optional
        Set it to stop with :class:`vibmag.errors.CancelledError`.
    displacement : xarray.DataArray or xarray.Dataset, optional
        The recording's displacement if already measured (e.g. by
        :func:`vibmag.estimate_displacement` for a report that also needs it);
        then nothing is measured again and ``flow_method``, ``flow_options``,
        ``progress`` and ``cancel`` are unused. The Dataset of ``return_uncertainty=True``
        brings its error parts: the peaks' noise floor, SNR and amplitude
        sigma then come from its ``noise``, their systematic part from its
        ``model_error`` (:func:`vibmag.analysis.systematic_spectrum`). They are
        measured with the displacement when the estimator gives them;
        otherwise the noise floor is read off the spectrum itself
        (``find_peaks(noise="spectrum")``) and the amplitudes carry no
        systematic part.

    Returns
    -------
    xarray.Dataset
        ``spectrum`` (frequency, component) px, ``waveform`` (time, component)
        px (region mean), ``rms`` and ``peak_to_peak`` (component, y, x) px,
        and the peak table of :func:`vibmag.analysis.find_peaks` along dim
        ``peak``, its variables prefixed ``peak_`` (``peak_frequency``, ...,
        with ``peak_noise_floor``, ``peak_amplitude_sigma`` and ``peak_snr``,
        and ``peak_amplitude_systematic`` with the error parts), and ``noise``
        (component) px, the displacement's frame-to-frame noise over the
        region (its RMS over time, mean over pixels; absent where only the
        spectrum's own floor was used).
    """
    flow_options = check_flow_options(flow_method, flow_options)
    measured = _measure(ds, flow_method, flow_options, progress, cancel) if displacement is None else displacement
    disp = measured["displacement"] if isinstance(measured, xr.Dataset) else measured
    spec = spectrum(disp, region=region)
    with_errors = isinstance(measured, xr.Dataset) and {"noise", "model_error"} <= set(measured.data_vars)
    noise = _region_noise(measured["noise"], disp, region) if with_errors else "spectrum"
    systematic = systematic_spectrum(disp, measured["model_error"], spec=spec, region=region) if with_errors else None
    peaks = find_peaks(spec, n=n_peaks, noise=noise, systematic=systematic)
    rms, peak_to_peak = motion_maps(disp)
    summary = xr.Dataset({"spectrum": spec, "waveform": waveform(disp, region=region), "rms": rms, "peak_to_peak": peak_to_peak})
    summary = summary.merge(peaks.rename({name: f"peak_{name}" for name in peaks.data_vars}))
    if not isinstance(noise, str):
        summary["noise"] = noise
    summary.attrs = {k: v for k, v in ds.attrs.items() if k in ("frame_rate", "pixel_size", "source")}
    return summary


def _measure(ds, flow_method, flow_options, progress, cancel) -> xr.DataArray | xr.Dataset:
    """The displacement, with its error parts (a Dataset) where the estimator gives them."""
    return estimate_displacement(ds, method=flow_method, progress=progress, cancel=cancel, **flow_options,
                                 **({"return_uncertainty": True} if supports_uncertainty(flow_method) else {}))


def _region_noise(noise: xr.DataArray, disp: xr.DataArray, region) -> xr.DataArray:
    """The noise the region's spectrum sees, per component (:func:`vibmag.analysis.spectra.noise_level`)."""
    inside = region_mask(disp, region) > 0 if region is not None else noise.notnull().any(["time", "component"])
    return noise_level(noise.where(inside))


def motion_maps(disp: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """RMS (about the temporal mean) and peak-to-peak maps of a displacement.

    Parameters
    ----------
    disp : xarray.DataArray, dims (time, component, y, x)
        Displacement in px or mm.

    Returns
    -------
    rms, peak_to_peak : xarray.DataArray, dims (component, y, x)
        In the displacement's units.
    """
    units = disp.attrs.get("units", "px")
    centred = disp - disp.mean("time")
    rms = np.sqrt((centred**2).mean("time")).assign_attrs(units=units, long_name="RMS displacement")
    peak_to_peak = (disp.max("time") - disp.min("time")).assign_attrs(units=units, long_name="peak-to-peak displacement")
    return rms, peak_to_peak


def band_around(frequency_hz_: float, df_hz: float, nyquist_hz: float, *, relative_width: float = 0.25) -> tuple[float, float]:
    """The band ``f (1 -/+ relative_width)`` around a peak, kept between the first bin and Nyquist.

    Parameters
    ----------
    frequency_hz_ : float
        The peak's frequency, Hz.
    df_hz, nyquist_hz : float
        The spectrum's bin spacing and its last frequency, Hz.
    relative_width : float
        Half-width of the band relative to the peak frequency.

    Returns
    -------
    (float, float)
        ``(low, high)`` in Hz; ``low >= high`` when the peak is too close to 0 or Nyquist.
    """
    low = max(frequency_hz_ * (1 - relative_width), df_hz)
    high = min(frequency_hz_ * (1 + relative_width), nyquist_hz - df_hz)
    return low, high


def dominant_band(summary: xr.Dataset, *, relative_width: float = 0.25, min_frequency=None) -> tuple[str, str]:
    """The band around the most salient vibration peak: ``f0 * (1 -/+ relative_width)``.

    A peak's salience is its amplitude over its component's noise floor (the
    median of that component's spectrum), so a clear tone in a well-measured
    direction wins over a larger bump in a noisy one (e.g. along a beam,
    where the texture leaves that component ill-determined). Peaks below
    ``min_frequency`` are drift, not vibration, and are skipped.

    Parameters
    ----------
    summary : xarray.Dataset
        From :func:`survey` (needs its peak table and spectrum).
    relative_width : float
        Half-width of the band relative to the peak frequency.
    min_frequency : str or pint.Quantity, optional
        Lowest peak frequency considered (default: 3 frequency bins).

    Returns
    -------
    (str, str)
        Band edges with units, inside (0, Nyquist), e.g. ``("13.5 Hz", "22.5 Hz")``.

    Examples
    --------
    >>> from vibmag.synthetic import Mode, vibrating_plate
    >>> ds = vibrating_plate((48, 48), n_frames=64, frame_rate="1 kHz", modes=[Mode("125 Hz", 0.3)], drift=(20.0, 0.0))
    >>> dominant_band(survey(ds, progress=False))  # the drift's ramp (largest at 15.6 Hz) is skipped
    ('93.75 Hz', '156.25 Hz')
    """
    spec = summary["spectrum"]
    freqs = spec["frequency"].values
    df, nyquist = float(freqs[1] - freqs[0]), float(freqs[-1])
    lowest = 3 * df if min_frequency is None else frequency_hz(min_frequency)
    frequency = summary["peak_frequency"] if "peak" in summary.dims else None
    if frequency is None or not bool((frequency >= lowest).any()):
        raise AnalysisError(f"no spectral peak above {lowest:.6g} Hz; the recording shows no vibration to magnify")
    floor = spec.median("frequency").clip(min=np.finfo(np.float32).tiny)
    salience = (summary["peak_amplitude"] / floor).max([d for d in summary["peak_amplitude"].dims if d != "peak"])
    salience = salience.where(frequency >= lowest, -np.inf)
    f0 = float(frequency.isel(peak=int(salience.argmax("peak"))))
    low, high = band_around(f0, df, nyquist, relative_width=relative_width)
    return f"{low:.6g} Hz", f"{high:.6g} Hz"


def peak_table(summary: xr.Dataset) -> xr.Dataset:
    """The peak table of a :func:`survey` result, named as :func:`vibmag.analysis.find_peaks` names it."""
    names = [name for name in summary.data_vars if name.startswith("peak_") and "peak" in summary[name].dims]
    return summary[names].rename({name: name[len("peak_") :] for name in names})


def plot_survey(summary: xr.Dataset, path: str | Path, *, title: str = "", band=None) -> Path:
    """Spectrum with peaks and the region's waveform, written as a PNG.

    ``band``: ``(low, high)`` (floats in Hz, or strings with units as
    :func:`dominant_band` returns them), shaded on the spectrum, e.g. the band magnified.
    """
    fig = Figure(figsize=(9, 6), constrained_layout=True)
    top, bottom = fig.subplots(2, 1)
    peaks = peak_table(summary)
    band_hz = None if band is None else tuple(float(e) if isinstance(e, (int, float)) else frequency_hz(e) for e in band)
    plot_spectrum(summary["spectrum"], ax=top, peaks=peaks, band=band_hz)
    top.set_title(title or "amplitude spectrum of displacement")
    plot_waveform(summary["waveform"], ax=bottom)
    bottom.set_title("displacement waveform (region mean)")
    fig.savefig(path, dpi=110)
    return Path(path)
