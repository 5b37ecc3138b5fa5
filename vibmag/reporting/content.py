"""What an inspection report says: every number, plot and the clip, computed once through the pipeline.

:func:`build_content` measures the recording's displacement once and derives
the rest from it: the survey (:func:`vibmag.pipeline.survey`), the peak table
(:func:`vibmag.analysis.find_peaks`, with its uncertainty columns when it has
them), the operating deflection shape at each peak
(:func:`vibmag.analysis.deflection_shape`), the waveform and orbit at the
named points (or the strongest one), and the magnified clip
(:func:`vibmag.pipeline.magnify` beside the original through
:func:`vibmag.io.video_write.write_video`). The result is plain data (what the
JSON file holds) plus the images and the clip as bytes, for
:mod:`vibmag.reporting.page` to lay out.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
import math
import platform
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from PIL import Image
from scipy import ndimage

from .. import __version__
from ..analysis import (AnalysisError, BandError, bandpass, deflection_shape, find_peaks, orbit, resolved_peaks,
                        waveform)
from ..errors import VibmagError, VibmagWarning
from ..flow import estimate_displacement
from ..flow.api import supports_uncertainty
from ..io.outputs import input_files
from ..io.video import read_video
from ..io.video_write import write_video
from ..pipeline import dominant_band, flow_options_for, magnify, peak_table, survey
from ..pipeline.clip import clip_label, clip_layout
from ..recording import frame_rate_hz, pixel_size_mm
from ..units import frequency_hz, ureg
from ..viz import plot_deflection_shape, plot_motion_map, plot_orbit, plot_spectrum, plot_waveform

__all__ = ["ReportContent", "build_content", "DEFAULT_ALPHA", "MAX_CLIP_FRAMES", "MAX_CLIP_SIZE"]

#: Magnification of the band when none is given.
DEFAULT_ALPHA = 20.0
#: The clip is at most this many frames (the recording's first ones).
MAX_CLIP_FRAMES = 150
#: A panel of the clip is at most this many px on its longer side (larger frames are subsampled).
MAX_CLIP_SIZE = 960
#: Pixels next to the frame's edges left out when looking for the strongest point (the flow is weakest there).
_EDGE = 4
_DPI = 100

logger = logging.getLogger("vibmag.report")


@dataclass
class ReportContent:
    """A report's data (JSON-able ``data``), its figures as PNG bytes, and the clip."""

    data: dict
    figures: dict = field(default_factory=dict)  # name -> PNG bytes
    clip: bytes | None = None  # MP4 (H.264)
    poster: bytes | None = None  # PNG of the clip's first frame
    csv: dict = field(default_factory=dict)  # file name -> text


def build_content(ds: xr.Dataset, *, band=None, region=None, method: str = "flowmag", alpha: float = DEFAULT_ALPHA,
                  n_peaks: int = 5, points=None, reference: int = 0, adapt_steps: int = 0, model=None,
                  flow_method: str | None = None, flow_options: dict | None = None,
                  max_clip_frames: int = MAX_CLIP_FRAMES,
                  max_clip_size: int = MAX_CLIP_SIZE, fps: float | None = None, clip: bool = True,
                  options: dict | None = None, progress=None, cancel: threading.Event | None = None) -> ReportContent:
    """Compute everything a report shows; see :func:`vibmag.report` for the parameters."""
    n_time = ds.sizes["time"]
    clip_frames = min(n_time, int(max_clip_frames)) if clip else 0
    steps = _Steps(progress, n_time + clip_frames + 2)
    flow_options = flow_options or {}
    with_sigma = supports_uncertainty(flow_method)  # then the peaks' noise is the measurement's own, not the spectrum's floor
    measured = estimate_displacement(ds, method=flow_method, progress=steps.stage(n_time) or False, cancel=cancel,
                                     **flow_options,
                                     **({"return_uncertainty": True} if with_sigma else {})).compute()
    disp = measured["displacement"] if with_sigma else measured
    summary = survey(ds, region=region, n_peaks=n_peaks, displacement=measured)
    peaks = peak_table(summary)
    band_hz = _band_hz(band, summary)
    size_mm = pixel_size_mm(ds)
    data = {
        "title": f"Vibration inspection: {_file_name(ds)}",
        "recording": recording_facts(ds),
        "band_hz": list(band_hz),
        "band_chosen": "given" if band is not None else "dominant peak (vibmag.pipeline.dominant_band)",
        "noise": "the displacement's measured noise and motion-model error" if with_sigma else "the spectrum's own floor",
    }
    content = ReportContent(data)
    data["peaks"] = _peak_rows(peaks, size_mm)
    dominant = _dominant_peak(peaks, band_hz)
    data["dominant_peak"] = None if dominant is None else data["peaks"][dominant]
    data["spectrum"] = _spectrum_data(summary["spectrum"])
    content.figures["spectrum"] = _spectrum_figure(summary, peaks, band_hz)
    frame = _first_frame(ds)
    content.figures["rms"], content.figures["peak_to_peak"] = (
        _map_figure(summary[name], ds, frame, size_mm) for name in ("rms", "peak_to_peak"))
    data["survey"] = {name: _map_stats(summary[name], frame, size_mm) for name in ("rms", "peak_to_peak")}
    steps.advance(1)
    shapes = dict(_shapes(disp, peaks, frame_rate_hz(ds)))
    salient = salient_components(peaks, summary["spectrum"])
    data["shapes"] = [_shape_row(i, shape, size_mm, salient[i], frame) for i, shape in shapes.items()]
    for i, shape in shapes.items():
        content.figures[f"shape{i}"] = _shape_figure(shape, ds, salient[i])
    strongest = None if dominant not in shapes else data["shapes"][list(shapes).index(dominant)]["at_yx"]
    data["points"] = []
    for j, point in enumerate(_points(points, strongest, ds)):
        row, figure = _point(disp, point, band_hz, shapes.get(dominant), size_mm, named=points is not None)
        data["points"].append(row)
        content.figures[f"point{j}"] = figure
    steps.advance(1)
    if clip_frames:
        try:
            content.clip, content.poster, data["clip"] = _clip(
                ds.isel(time=slice(0, clip_frames)), alpha, band_hz, region=region, method=method, model=model,
                reference=reference, adapt_steps=adapt_steps, flow_method=flow_method,
                flow_options=flow_options_for(method, flow_options), max_size=max_clip_size, fps=fps,
                progress=steps.stage(clip_frames), cancel=cancel)
        except BandError as exc:  # e.g. too few frames for the band filter: the report goes on without its clip
            logger.warning("no clip: %s", exc)
            data["clip"] = {"error": str(exc)}
    data["settings"] = {"alpha": float(alpha), "band_hz": list(band_hz), "region": _describe(region), "method": method,
                        "n_peaks": int(n_peaks), "points": None if points is None else [list(map(float, p)) for p in points],
                        "reference": int(reference), "adapt_steps": int(adapt_steps),
                        "flow_method": flow_method or "default",
                        "flow_options": flow_options, "max_clip_frames": int(max_clip_frames),
                        "max_clip_size": int(max_clip_size), "fps": fps, **(options or {})}
    data["provenance"] = _provenance(data.get("clip"), method)
    content.csv = {"peaks.csv": _peaks_csv(data["peaks"]), "spectrum.csv": _spectrum_csv(data["spectrum"])}
    steps.advance(0)
    return content


def recording_facts(ds: xr.Dataset) -> dict:
    """What was recorded: camera, rates, frames, duration, size, pixel size and its origin, bit depth, file and hash."""
    attrs = ds.attrs
    rate = frame_rate_hz(ds)
    size_mm = pixel_size_mm(ds)
    source = str(attrs.get("source", ""))
    files = sorted(set(input_files(ds)))
    return {
        "file": _file_name(ds),
        "source": source,
        "format": str(attrs.get("format", "array")),
        "camera": str(attrs.get("camera", "")) or "not recorded",
        "frame_rate_hz": rate,
        "frame_rate_source": str(attrs.get("frame_rate_source", "given or stored with the recording")),
        "record_rate": str(attrs.get("record_rate", "")),
        "save_step": str(attrs.get("save_step", "")),
        "frames": int(ds.sizes["time"]),
        "duration_s": ds.sizes["time"] / rate,
        "width_px": int(ds.sizes["x"]),
        "height_px": int(ds.sizes["y"]),
        "channels": int(ds.sizes.get("channel", 1)),
        "pixel_size_mm": size_mm,
        "pixel_size_source": str(attrs.get("pixel_size_source", "given or stored with the recording")) if size_mm
        else "unknown: amplitudes in px only (pass a pixel size for mm)",
        "bit_depth": str(attrs.get("bit_depth", "float data")),
        "hashes": {Path(f).name: _sha256_file(f) for f in files} if files else {"frames (float32)": _sha256_frames(ds)},
    }


class _Steps:
    """``progress(done, total)`` over the stages of a report (the displacement, then the clip)."""

    def __init__(self, progress, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def stage(self, size: int):
        start = self.done
        self.done += size
        if not callable(self.progress):
            return None

        def update(done, total):
            self.progress(start + round(size * done / max(total, 1)), self.total)

        return update

    def advance(self, amount: int) -> None:
        self.done = min(self.total, self.done + amount)
        if callable(self.progress):
            self.progress(self.done if amount else self.total, self.total)


def _file_name(ds) -> str:
    source = str(ds.attrs.get("source", ""))
    return Path(source).name if source and source not in ("array", "<array>") else "in-memory recording"


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_frames(ds) -> str:
    digest = hashlib.sha256()
    for t in range(0, ds.sizes["time"], 64):
        digest.update(np.ascontiguousarray(ds["frames"].isel(time=slice(t, t + 64)).values, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _band_hz(band, summary) -> tuple[float, float]:
    """The band magnified, in Hz: the one given, else the dominant peak's."""
    edges = dominant_band(summary) if band is None else band
    low, high = (frequency_hz(edge) for edge in edges)
    return float(low), float(high)


def _peak_rows(peaks: xr.Dataset, size_mm: float | None) -> list[dict]:
    """One dict per peak, with every column find_peaks gives (and mm where the pixel size is known)."""
    rows = []
    components = [str(c) for c in peaks["component"].values] if "component" in peaks.coords else ["value"]
    resolved = resolved_peaks(peaks)
    for i in range(peaks.sizes.get("peak", 0)):
        one = peaks.isel(peak=i)
        row = {"peak": i + 1, "frequency_hz": float(one["frequency"]), "rpm": float(one["rpm"]), "q": _float(one["q"]),
               "bandwidth_hz": _float(one["bandwidth"])}
        for name in ("amplitude", "amplitude_sigma"):
            if name not in one:
                continue
            for c, value in zip(components, np.atleast_1d(np.asarray(one[name].values, dtype=float))):
                row[f"{name}_{c}_px"] = _float(value)
                if size_mm:
                    row[f"{name}_{c}_mm"] = _float(value * size_mm)
        if "snr" in one:
            row["snr"] = _float(np.max(one["snr"].values))
        if "cycles" in one:
            row["cycles"] = _float(one["cycles"])
            row["resolved"] = bool(resolved[i])
        rows.append(row)
    return rows


def _float(value) -> float | None:
    value = float(np.asarray(value))
    return value if math.isfinite(value) else None


def _dominant_peak(peaks: xr.Dataset, band_hz) -> int | None:
    """Index of the largest peak inside the band (else the one nearest its centre)."""
    if peaks.sizes.get("peak", 0) == 0:
        return None
    freqs = peaks["frequency"].values
    total = np.sqrt((peaks["amplitude"] ** 2).sum([d for d in peaks["amplitude"].dims if d != "peak"])).values
    inside = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    if inside.any():
        return int(np.argmax(np.where(inside, total, -np.inf)))
    return int(np.argmin(np.abs(freqs - 0.5 * (band_hz[0] + band_hz[1]))))


def _spectrum_data(spec: xr.DataArray) -> dict:
    spec = spec.transpose("frequency", ...)
    components = [str(c) for c in spec["component"].values] if "component" in spec.coords else ["value"]
    values = np.asarray(spec.values, dtype=float).reshape(spec.sizes["frequency"], -1)
    return {"frequency_hz": [float(f) for f in spec["frequency"].values], "units": spec.attrs.get("units", "px"),
            **{f"amplitude_{c}": [float(v) for v in values[:, k]] for k, c in enumerate(components)}}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _map_size(ds, rows: int = 1) -> tuple[float, float]:
    """Figure size for ``rows`` maps of the frame stacked, each with its colour bar."""
    h, w = ds.sizes["y"], ds.sizes["x"]
    width = float(np.clip(4.0 + 6.0 * w / h, 5.0, 10.0))
    image_height = min((width - 1.6) * h / w, 5.0)
    furniture = 1.45 if w >= 4 * h else 0.9  # title, axis labels and the colour bar (below the very wide frames)
    return width, rows * (image_height + furniture) + 0.2


def _spectrum_figure(summary, peaks, band_hz) -> bytes:
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    ax = fig.subplots()
    plot_spectrum(summary["spectrum"], ax=ax, peaks=peaks, band=band_hz)
    ax.set_title("amplitude spectrum of displacement (region average), peaks marked, magnified band shaded")
    ax.grid(alpha=0.3)
    return _png(fig)


def _map_figure(field: xr.DataArray, ds, frame: np.ndarray, size_mm) -> bytes:
    """One map per component, each where that component can be measured, over the first frame."""
    wide = ds.sizes["x"] >= 2 * ds.sizes["y"]
    width, height = _map_size(ds, rows=2 if wide else 1)
    fig = Figure(figsize=(width, height) if wide else (min(2 * width, 11), height), layout="constrained")
    for ax, c in zip(fig.subplots(2, 1) if wide else fig.subplots(1, 2), field["component"].values):
        plot_motion_map(field.sel(component=c), ax=ax, background=frame, pixel_size_mm=size_mm, mask=measurable(frame, str(c)))
        ax.set_title(f"{field.attrs.get('long_name', '')} along {c}")
    return _png(fig)


def _first_frame(ds) -> np.ndarray:
    frame = np.asarray(ds["frames"].isel(time=0).values, dtype=float)
    return frame.mean(axis=-1) if frame.ndim == 3 else frame


def measurable(frame: np.ndarray, component: str) -> np.ndarray:
    """Where motion along ``component`` can be measured: the image changes along it, away from the edges.

    Local texture (squared gradient along the component, 7 x 7 px mean) of
    at least a fifth of the frame's 90th percentile; the pixels next to the
    frame's edges are left out (the flow is weakest there).
    """
    gradient = np.gradient(frame, axis=0 if component == "y" else 1)
    texture = ndimage.uniform_filter(gradient**2, size=7, mode="nearest")
    usable = texture >= 0.2 * np.percentile(texture, 90)
    h, w = frame.shape
    ey, ex = (_EDGE if n > 4 * _EDGE else 0 for n in (h, w))
    inner = np.zeros_like(usable)
    inner[ey : h - ey, ex : w - ex] = True
    usable &= inner
    return usable if usable.any() else inner


def _map_stats(field: xr.DataArray, frame: np.ndarray, size_mm) -> dict:
    """Per component: the largest and the median value where that component is measurable, and where the largest is."""
    stats = {}
    for c in field["component"].values:
        values = np.where(measurable(frame, str(c)), field.sel(component=c).transpose("y", "x").values, np.nan)
        iy, ix = np.unravel_index(int(np.nanargmax(values)), values.shape)
        row = {"max_px": float(values[iy, ix]), "median_px": float(np.nanmedian(values)), "at_yx": [int(iy), int(ix)]}
        if size_mm:
            row.update(max_mm=row["max_px"] * size_mm, median_mm=row["median_px"] * size_mm)
        stats[str(c)] = row
    return stats


def _shapes(disp, peaks, rate_hz: float) -> list[tuple[int, xr.DataArray]]:
    """The deflection shape at every peak strictly between 0 Hz and Nyquist."""
    shapes = []
    for i, f in enumerate(np.asarray(peaks["frequency"].values, dtype=float)):
        if 0 < f < rate_hz / 2:
            shapes.append((i, deflection_shape(disp, ureg.Quantity(float(f), "Hz")).compute()))
    return shapes


def salient_components(peaks: xr.Dataset, spec: xr.DataArray) -> list[str]:
    """Per peak, the component whose amplitude stands highest over that component's noise floor.

    The floor is the median of the component's spectrum, as in
    :func:`vibmag.pipeline.dominant_band`: along a beam, say, the texture
    leaves one component noisy, and its larger amplitude is not the motion.
    """
    floor = spec.median("frequency").clip(min=np.finfo(np.float32).tiny)
    ratio = (peaks["amplitude"] / floor).transpose("peak", "component")
    names = [str(c) for c in ratio["component"].values]
    return [names[int(k)] for k in np.argmax(ratio.values, axis=1)]


def _shape_row(i: int, shape: xr.DataArray, size_mm, component: str, frame: np.ndarray) -> dict:
    """The shape's largest motion (of its salient component): where, how much per component, and its phase there."""
    iy, ix = _strongest_pixel(shape, component, frame)
    c = shape.isel(y=iy, x=ix).values
    row = {"peak": i + 1, "frequency_hz": frequency_hz(shape.attrs["frequency"]), "component": component,
           "at_yx": [int(iy), int(ix)]}
    for name, value in zip(shape["component"].values, c):
        row[f"magnitude_{name}_px"] = float(abs(value))
        row[f"phase_{name}_deg"] = float(np.angle(value, deg=True))
        if size_mm:
            row[f"magnitude_{name}_mm"] = float(abs(value)) * size_mm
    return row


def _strongest_pixel(shape: xr.DataArray, component: str, frame: np.ndarray) -> tuple[int, int]:
    """Where a shape's ``component`` moves most, smoothed over 5 x 5 px, among pixels where it is :func:`measurable`."""
    magnitude = np.abs(shape.sel(component=component).transpose("y", "x").values)
    smooth = ndimage.uniform_filter(magnitude, size=5, mode="nearest")
    iy, ix = np.unravel_index(int(np.argmax(np.where(measurable(frame, component), smooth, -np.inf))), smooth.shape)
    return int(iy), int(ix)


def _shape_figure(shape: xr.DataArray, ds, component: str) -> bytes:
    wide = ds.sizes["x"] >= 2 * ds.sizes["y"]
    width, height = _map_size(ds, rows=2 if wide else 1)
    fig = Figure(figsize=(width, height) if wide else (min(2 * width, 11), height), layout="constrained")
    axes = fig.subplots(2, 1) if wide else fig.subplots(1, 2)
    plot_deflection_shape(shape, ax=axes, component=component)
    return _png(fig)


def _points(points, strongest, ds) -> list[tuple[float, float]]:
    if points is not None:
        return [(float(y), float(x)) for y, x in points]
    if strongest is not None:
        return [tuple(float(v) for v in strongest)]
    return [((ds.sizes["y"] - 1) / 2, (ds.sizes["x"] - 1) / 2)]


def _point(disp, point, band_hz, dominant_shape, size_mm, *, named: bool) -> tuple[dict, bytes]:
    """The waveform and the orbit (in the band) at one point, its table row and its figure."""
    wave = waveform(disp, point=point)
    path = orbit(disp, point=point)
    note = ""
    try:
        path = xr.Dataset({c: bandpass(path[c], *(ureg.Quantity(edge, "Hz") for edge in band_hz)) for c in ("x", "y")})
        orbit_title = f"orbit in {band_hz[0]:.4g} - {band_hz[1]:.4g} Hz"
    except (BandError, AnalysisError) as exc:
        orbit_title, note = "orbit (all motion)", f"orbit not band-passed: {exc}"
    y, x = wave.attrs["point_y"], wave.attrs["point_x"]
    centred = wave - wave.mean("time")
    row = {"point_yx": [float(y), float(x)], "chosen": "named" if named else "strongest motion at the dominant peak"}
    for c in wave["component"].values:
        series = centred.sel(component=c).values
        row[f"rms_{c}_px"] = float(np.sqrt(np.mean(series**2)))
        row[f"peak_to_peak_{c}_px"] = float(series.max() - series.min())
        if size_mm:
            row[f"rms_{c}_mm"], row[f"peak_to_peak_{c}_mm"] = row[f"rms_{c}_px"] * size_mm, row[f"peak_to_peak_{c}_px"] * size_mm
    if dominant_shape is not None:
        c = dominant_shape.sel(y=y, x=x, method="nearest").values
        for name, value in zip(dominant_shape["component"].values, c):
            row[f"dominant_amplitude_{name}_px"], row[f"dominant_phase_{name}_deg"] = float(abs(value)), float(np.angle(value, deg=True))
    if note:
        row["note"] = note
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[3, 1])
    plot_waveform(wave, ax=left)
    left.set_title(f"displacement at (y, x) = ({y:g}, {x:g}) px")
    left.grid(alpha=0.3)
    plot_orbit(path, ax=right)
    right.set_title(orbit_title)
    right.grid(alpha=0.3)
    return row, _png(fig)


def _clip(ds, alpha, band_hz, *, region, method, model, reference, adapt_steps, flow_method, flow_options, max_size,
          fps, progress, cancel) -> tuple[bytes, bytes, dict]:
    """The first frames magnified beside the original, as MP4 bytes, a PNG poster, and what was done."""
    band = tuple(ureg.Quantity(edge, "Hz") for edge in band_hz)
    with warnings.catch_warnings(record=True) as caught:  # said in the report, beside the clip they are about
        warnings.simplefilter("always", VibmagWarning)
        result = magnify(ds, alpha, band=band, region=region, method=method, model=model, reference=reference,
                         adapt_steps=adapt_steps, flow_method=flow_method, flow_options=flow_options, progress=progress,
                         cancel=cancel)
    notes = [str(w.message) for w in caught if issubclass(w.category, VibmagWarning)]
    for note in notes:
        logger.warning("%s", note)
    h, w = ds.sizes["y"], ds.sizes["x"]
    stride = max(1, math.ceil(max(h, w) / max_size))
    layout = clip_layout(h // stride, w // stride)
    zoom = layout["zoom"] if max(h, w) // stride * layout["zoom"] <= max_size else 1
    every = {"y": slice(None, None, stride), "x": slice(None, None, stride)}
    label = clip_label(method, alpha, band_hz)
    with tempfile.TemporaryDirectory(prefix="vibmag-report-") as folder:
        path = Path(folder) / "clip.mp4"
        write_video(ds.isel(every), path, side_by_side=result.isel(every), labels=("original", label), timestamp=True,
                    fps=fps, stack=layout["stack"], zoom=zoom)
        video = path.read_bytes()
        first = read_video(path, frame_rate=f"{frame_rate_hz(ds)!r} Hz")["frames"].isel(time=0).values
    poster = io.BytesIO()
    Image.fromarray(np.round(np.clip(first, 0, 1) * 255).astype(np.uint8)).save(poster, format="PNG")
    facts = {"frames": int(ds.sizes["time"]), "label": label, "stride": stride, "zoom": zoom,
             "stack": layout["stack"], "time_s": [float(ds["time"].values[0]), float(ds["time"].values[-1])],
             "bytes": len(video), "model": str(result.attrs.get("model", "")), "alpha": float(alpha),
             "warnings": notes}
    return video, poster.getvalue(), facts


def _provenance(clip: dict | None, method: str) -> dict:
    """vibmag's version, the method and the weights (hash) that magnified, the platform and the date."""
    return {
        "vibmag_version": __version__,
        "method": method,
        "model": (clip or {}).get("model") or "no clip made",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "xarray": xr.__version__,
        "platform": platform.platform(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _describe(region):
    if region is None:
        return "whole frame"
    if isinstance(region, (tuple, list)):
        return [list(v) if isinstance(v, (tuple, list)) else float(v) for v in region]
    return f"mask of {int(np.count_nonzero(np.asarray(region)))} px"


def _peaks_csv(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = [",".join(columns)]
    lines += [",".join("" if row.get(c) is None else f"{row[c]:.10g}" for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def _spectrum_csv(spectrum: dict) -> str:
    columns = [k for k in spectrum if k != "units"]
    lines = [",".join(f"{c}_{spectrum['units']}" if c.startswith("amplitude") else c for c in columns)]
    lines += [",".join(f"{v:.10g}" for v in values) for values in zip(*(spectrum[c] for c in columns))]
    return "\n".join(lines) + "\n"


def check_points(points, ds) -> None:
    """Raise if a named point lies outside the frame."""
    for y, x in points or ():
        if not (0 <= y <= ds.sizes["y"] - 1 and 0 <= x <= ds.sizes["x"] - 1):
            raise ReportError(f"point (y, x) = ({y:g}, {x:g}) lies outside the {ds.sizes['y']} x {ds.sizes['x']} px frame")


class ReportError(VibmagError, ValueError):
    """A report cannot be made as asked (e.g. a point outside the frame)."""
