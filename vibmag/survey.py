"""A recording's vibration at a glance: displacement summary, spectrum, peaks, dominant band.

:func:`survey` is what ``vibmag analyze``, ``vibmag demo`` and the batch
runner compute for a recording; :func:`plot_survey` draws it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["survey", "dominant_band", "peak_table", "plot_survey"]


def survey(ds: xr.Dataset, *, region=None, n_peaks: int = 5, flow_method: str | None = None, progress=None) -> xr.Dataset:
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
    progress : bool, optional
        Progress bar of the displacement estimate (None: on a terminal).

    Returns
    -------
    xarray.Dataset
        ``spectrum`` (frequency, component) px, ``waveform`` (time, component)
        px (region mean), ``rms`` and ``peak_to_peak`` (component, y, x) px,
        and the peak table of :func:`vibmag.analysis.find_peaks` along dim
        ``peak``, its variables prefixed ``peak_`` (``peak_frequency``, ...).
    """
    from .analysis import find_peaks, spectrum, waveform
    from .flow import estimate_displacement

    disp = estimate_displacement(ds, method=flow_method, progress=progress)
    spec = spectrum(disp, region=region)
    peaks = find_peaks(spec, n=n_peaks)
    centred = disp - disp.mean("time")
    summary = xr.Dataset(
        {
            "spectrum": spec,
            "waveform": waveform(disp, region=region),
            "rms": np.sqrt((centred**2).mean("time")).assign_attrs(units=disp.attrs.get("units", "px"), long_name="RMS displacement"),
            "peak_to_peak": (disp.max("time") - disp.min("time")).assign_attrs(units=disp.attrs.get("units", "px"), long_name="peak-to-peak displacement"),
        }
    )
    summary = summary.merge(peaks.rename({name: f"peak_{name}" for name in peaks.data_vars}))
    summary.attrs = {k: v for k, v in ds.attrs.items() if k in ("frame_rate", "pixel_size", "source")}
    return summary


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
    from .analysis import AnalysisError
    from .units import frequency_hz

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
    low = max(f0 * (1 - relative_width), df)
    high = min(f0 * (1 + relative_width), nyquist - df)
    return f"{low:.6g} Hz", f"{high:.6g} Hz"


def peak_table(summary: xr.Dataset) -> xr.Dataset:
    """The peak table of a :func:`survey` result, named as :func:`vibmag.analysis.find_peaks` names it."""
    names = [name for name in summary.data_vars if name.startswith("peak_") and "peak" in summary[name].dims]
    return summary[names].rename({name: name[len("peak_") :] for name in names})


def plot_survey(summary: xr.Dataset, path: str | Path, *, title: str = "") -> Path:
    """Spectrum with peaks and the region's waveform, written as a PNG."""
    from matplotlib.figure import Figure

    from .viz import plot_spectrum, plot_waveform

    fig = Figure(figsize=(9, 6), constrained_layout=True)
    top, bottom = fig.subplots(2, 1)
    peaks = peak_table(summary)
    plot_spectrum(summary["spectrum"], ax=top, peaks=peaks)
    top.set_title(title or "amplitude spectrum of displacement")
    plot_waveform(summary["waveform"], ax=bottom)
    bottom.set_title("displacement waveform (region mean)")
    fig.savefig(path, dpi=110)
    return Path(path)
