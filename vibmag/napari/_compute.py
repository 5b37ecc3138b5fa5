"""What the widgets compute, as plain functions over vibmag's public API, with no Qt.

Long functions take ``progress(done, total)`` and a ``cancel``
:class:`threading.Event`, like :func:`vibmag.magnify`, so the widgets run them
in a napari thread worker and a button can stop them (they raise
:class:`vibmag.errors.CancelledError`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

import vibmag
from vibmag import pipeline
from vibmag.analysis.spectra import noise_level
from vibmag.pipeline import band_around
from vibmag.progress import Progress

from ._regions import bounding_box

__all__ = [
    "BandSuggestion",
    "Inspection",
    "measure_displacement",
    "suggest_bands",
    "inspect",
    "deflection_layers",
    "magnify_recording",
    "export_report",
]

#: The estimator's options when a widget's "ignore lighting changes" box is ticked (docs/flow.md, limits, item 4).
LIGHTING_OPTIONS = {"highpass": 4.0}

#: About how many arrows the deflection-shape vectors layer draws (one every ``step`` px).
_VECTORS = 400


def measure_displacement(ds: xr.Dataset, *, region=None, chunk_frames: int = 16, progress: Progress | None = None,
                         cancel: threading.Event | None = None, with_errors: bool = False,
                         flow_options: dict | None = None) -> xr.DataArray | xr.Dataset:
    """:func:`vibmag.estimate_displacement` against frame 0, reporting progress and checking ``cancel`` per chunk.

    Parameters
    ----------
    ds : xarray.Dataset
        A recording.
    region : box (y0, x0, y1, x1) or bool mask, optional
        Passed to :func:`vibmag.estimate_displacement` (outside it: NaN).
    chunk_frames : int
        Frames per chunk (and per progress report).
    progress, cancel
        As in :func:`vibmag.magnify`.
    with_errors : bool
        Also measure the displacement's error parts (``return_uncertainty=True``), which :func:`inspect` uses.
    flow_options : dict, optional
        The estimator's options (:data:`LIGHTING_OPTIONS` when the widget's lighting box is ticked).

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        ``displacement`` (time, component, y, x) in px, with the recording's
        time coordinate; with ``with_errors``, the Dataset of
        :func:`vibmag.estimate_displacement` holding it with ``uncertainty``,
        ``noise`` and ``model_error``.
    """
    return vibmag.estimate_displacement(ds, reference=0, region=region, chunk_frames=chunk_frames,
                                        progress=progress or False, cancel=cancel, return_uncertainty=with_errors,
                                        **(flow_options or {}))


@dataclass(frozen=True)
class BandSuggestion:
    """A spectral peak of a region's motion and a band around it."""

    frequency: float  # Hz
    amplitude: float  # px, the larger component
    low: float  # Hz
    high: float  # Hz

    @property
    def label(self) -> str:
        return f"{self.frequency:.4g} Hz ({self.amplitude:.2g} px): {self.low:.4g}-{self.high:.4g} Hz"


def suggest_bands(ds: xr.Dataset, region: np.ndarray | None = None, *, n: int = 5, relative_width: float = 0.25,
                  progress: Progress | None = None, cancel: threading.Event | None = None,
                  flow_options: dict | None = None) -> list[BandSuggestion]:
    """The dominant peaks of a region's motion spectrum, strongest first, each with a band around it.

    Measures displacement over the region's bounding box only, takes
    :func:`vibmag.spectrum` over the region and :func:`vibmag.find_peaks`; each
    band is ``f (1 -/+ relative_width)``, kept between the first bin and
    Nyquist. ``flow_options`` as in :func:`measure_displacement`.
    """
    disp = measure_displacement(ds, region=bounding_box(region), progress=progress, cancel=cancel, flow_options=flow_options)
    spec = vibmag.spectrum(disp, region=region)
    peaks = vibmag.find_peaks(spec, n=n)
    freqs = spec["frequency"].values
    df, nyquist = float(freqs[1] - freqs[0]), float(freqs[-1])
    amplitude = peaks["amplitude"].max([d for d in peaks["amplitude"].dims if d != "peak"])
    suggestions = []
    for f, a in zip(peaks["frequency"].values, amplitude.values):
        low, high = band_around(float(f), df, nyquist, relative_width=relative_width)
        if high > low:
            suggestions.append(BandSuggestion(float(f), float(a), float(low), float(high)))
    return suggestions


@dataclass(frozen=True)
class Inspection:
    """The motion at a point or over a region: waveform, spectrum and peak table (px or mm)."""

    waveform: xr.DataArray  # (time, component)
    spectrum: xr.DataArray  # (frequency, component)
    peaks: xr.Dataset  # find_peaks table, dim "peak"
    where: str


def inspect(disp: xr.DataArray, *, point=None, region=None, units: str = "px", n_peaks: int = 5,
            uncertainty: xr.DataArray | None = None, model_error: xr.DataArray | None = None) -> Inspection:
    """Waveform, spectrum and peaks at ``point`` (y, x), or over ``region`` (a mask), in ``units`` px or mm.

    A point's spectrum is that of its waveform; a region's is
    :func:`vibmag.spectrum`'s per-pixel average, so modes whose shapes change
    sign across it do not cancel. The peak table carries ``amplitude_sigma``
    and ``snr``: from ``uncertainty``, the displacement's frame-to-frame
    noise (the ``noise`` of ``estimate_displacement(...,
    return_uncertainty=True)``), at the point or over the region where given,
    else from the spectrum's own noise floor; ``model_error`` (its
    ``model_error``) adds the amplitudes' systematic part
    (``amplitude_systematic``, :func:`vibmag.systematic_spectrum`).
    """
    if units not in ("px", "mm"):
        raise ValueError(f"units must be 'px' or 'mm', got {units!r}")
    systematic = None
    if point is not None:
        at = {"point": tuple(float(v) for v in point)}
        wave = vibmag.waveform(disp, **at)
        spec = vibmag.spectrum(wave)
        if model_error is not None:
            systematic = vibmag.systematic_spectrum(wave, vibmag.waveform(model_error, **at), spec=spec)
        where = f"point (y, x) = ({wave.attrs['point_y']:g}, {wave.attrs['point_x']:g}) px"
    else:
        wave = vibmag.waveform(disp, region=region)
        spec = vibmag.spectrum(disp, region=region)
        if model_error is not None:
            systematic = vibmag.systematic_spectrum(disp, model_error, spec=spec, region=region)
        where = "whole frame" if region is None else f"region of {int(np.count_nonzero(region))} px"
    peaks = vibmag.find_peaks(spec, n=n_peaks, noise=_noise_at(uncertainty, point, region), systematic=systematic)
    if units == "mm":
        wave, spec, peaks = (vibmag.to_physical(obj) for obj in (wave, spec, peaks))
    return Inspection(wave, spec, peaks, where)


def _noise_at(uncertainty: xr.DataArray | None, point, region):
    """``find_peaks``'s ``noise``: the uncertainty at the point or over the region, or "spectrum" without one."""
    if uncertainty is None:
        return "spectrum"
    if point is not None:
        return noise_level(vibmag.waveform(uncertainty, point=tuple(float(v) for v in point)))
    return noise_level(uncertainty if region is None else uncertainty.where(xr.DataArray(np.asarray(region, bool),
                                                                                          dims=("y", "x"))))


def deflection_layers(disp: xr.DataArray, frequency: float, *, units: str = "px", reference=None,
                      step: int | None = None, min_magnitude: float = 0.05) -> dict:
    """The operating deflection shape at ``frequency`` (Hz) as napari layer data.

    Returns
    -------
    dict
        ``magnitude`` (y, x): ``sqrt(|c_x|^2 + |c_y|^2)`` in ``units``;
        ``phase`` (y, x) in degrees of the stronger component (relative to
        ``reference`` (y, x) when given), NaN where the magnitude is below
        ``min_magnitude`` of its maximum; ``vectors`` (n, 2, 2) napari vectors
        ``[[y, x], [dy, dx]]`` in px (whatever ``units``) on a grid every
        ``step`` px (default: about 400 arrows): the motion at the instant the largest pixel peaks; ``step``; ``component`` (the stronger one),
        ``frequency`` and ``units``.
    """
    shape_px = vibmag.deflection_shape(disp, f"{float(frequency)!r} Hz")
    shape = vibmag.to_physical(shape_px) if units == "mm" else shape_px
    magnitude_xy = vibmag.shape_magnitude(shape)
    magnitude = np.sqrt((magnitude_xy**2).sum("component"))
    strongest = str(shape["component"].values[int(np.argmax((magnitude_xy**2).sum(("y", "x")).values))])
    phase = vibmag.shape_phase(shape, reference=reference).sel(component=strongest).values
    phase = np.where(magnitude.values >= min_magnitude * float(magnitude.max()), phase, np.nan)
    return {
        "magnitude": magnitude.values,
        "phase": phase,
        **_vectors(shape_px, step),
        "component": strongest,
        "frequency": float(frequency),
        "units": shape.attrs.get("units", units),
    }


def _vectors(shape: xr.DataArray, step: int | None) -> dict:
    """``vectors``: napari vectors (px) of the deflection at the phase where the largest pixel peaks; ``step``."""
    c = shape.values  # (component, y, x): x then y
    magnitude = np.sqrt((np.abs(c) ** 2).sum(axis=0))
    height, width = magnitude.shape
    step = step or max(1, round(np.sqrt(height * width / _VECTORS)))
    iy, ix = np.unravel_index(int(np.argmax(magnitude)), magnitude.shape)
    peak = c[:, iy, ix][np.argmax(np.abs(c[:, iy, ix]))]
    motion = np.real(c * np.exp(-1j * np.angle(peak)))
    ys, xs = np.meshgrid(np.arange(step // 2, height, step), np.arange(step // 2, width, step), indexing="ij")
    positions = np.stack([ys.ravel(), xs.ravel()], axis=1).astype(float)
    directions = np.stack([motion[1][ys, xs].ravel(), motion[0][ys, xs].ravel()], axis=1)
    return {"vectors": np.stack([positions, directions], axis=1), "step": step}


#: Why the widget's adaptation steps are off for the shipped model.
ADAPTATION_OFF = ("magnify gives the shipped model the displacement with a confidence of 1, where its learned "
                  "correction is off: adaptation could not change the result (docs/model_card.md)")


@functools.lru_cache(maxsize=1)
def adaptation_acts() -> bool:
    """Whether test-time adaptation can change what the widget's flowmag (the shipped model) renders in magnify.

    Read once per session: the shipped weights do not change, and the widget asks on every change of method."""
    return vibmag.load_model().corrects_certain_flow


def magnify_recording(ds: xr.Dataset, alpha: float, *, band=None, region=None, method: str = "flowmag",
                      adapt_steps: int = 0, flow_options: dict | None = None, progress: Progress | None = None,
                      cancel: threading.Event | None = None) -> xr.Dataset:
    """:func:`vibmag.magnify` for the widget: results too large for memory go to a temporary HDF5 file.

    ``flow_options`` reach the estimator where ``method`` measures displacement (else they are not used).

    Such a file lies in ``<temp>/vibmag-napari/``, is read lazily by the
    result layer, and is deleted when Python exits (save the layer with the
    writer to keep it).
    """
    output = None
    if ds["frames"].size * 4 > pipeline.MEMORY_RESULT_BYTES:
        folder = Path(tempfile.gettempdir()) / "vibmag-napari"
        folder.mkdir(exist_ok=True)
        output = Path(tempfile.mkstemp(suffix=".h5", dir=folder)[1])
        output.unlink()
        atexit.register(_remove_quietly, output)
    return pipeline.magnify(ds, alpha, band=band, region=region, method=method, adapt_steps=adapt_steps, output=output,
                            flow_options=pipeline.flow_options_for(method, flow_options),
                            progress=progress, cancel=cancel)


def export_report(ds: xr.Dataset, path, *, region=None, points=None, method: str = "flowmag", alpha: float = 20.0,
                  flow_options: dict | None = None, progress: Progress | None = None,
                  cancel: threading.Event | None = None):
    """:func:`vibmag.report` for the Inspect widget's "Export report": the region's spectrum, the points' orbits.

    The save dialog has already asked before replacing a file, so an earlier
    report there is replaced (a file that is not a vibmag report never is).
    """
    return vibmag.report(ds, path, region=region, points=points, method=method, alpha=alpha, overwrite=True,
                         flow_options=flow_options, progress=progress, cancel=cancel)


def _remove_quietly(path: Path) -> None:
    """Delete a spilled result at exit; a file still locked (Windows) is left to the OS's temp clean-up."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
