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


def dominant_band(summary: xr.Dataset, *, relative_width: float = 0.25) -> tuple[str, str]:
    """The band around the strongest peak: ``f0 * (1 -/+ relative_width)``, inside (0, Nyquist).

    Parameters
    ----------
    summary : xarray.Dataset
        From :func:`survey` (needs its peak table and spectrum).
    relative_width : float
        Half-width of the band relative to the peak frequency.

    Returns
    -------
    (str, str)
        Band edges with units, e.g. ``("13.5 Hz", "22.5 Hz")``.
    """
    from .analysis import AnalysisError

    if summary.sizes.get("peak", 0) == 0:
        raise AnalysisError("no spectral peak found; the recording shows no vibration to magnify")
    amplitude = summary["peak_amplitude"]
    strongest = amplitude.max([d for d in amplitude.dims if d != "peak"]).argmax("peak")
    f0 = float(summary["peak_frequency"].isel(peak=int(strongest)))
    freqs = summary["spectrum"]["frequency"].values
    df, nyquist = float(freqs[1] - freqs[0]), float(freqs[-1])
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
