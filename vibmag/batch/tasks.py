"""The work on one recording, as plain functions a Dask worker (or this process) runs.

A recording is measured tile by tile: each tile of space (the whole frame
unless the recording is large, see :func:`plan_tiles`) has its displacement
estimated from a crop with ``tile_margin`` px of context, which is then
discarded. Per tile, the displacement is reduced at once to what the summary
needs (RMS and peak-to-peak maps, per region the mean amplitude spectrum and
mean waveform with the region's weight in the tile); :func:`combine` joins the
tiles and finds the peaks; deflection shapes at those peaks then need the
tiles' displacement a second time (held by the workers meanwhile).

With ``analysis.uncertainty`` (the default) a tile is measured with its error
parts (the ``noise`` and ``model_error`` of :func:`vibmag.estimate_displacement`): the tile also
holds its signed motion-model error (as large as the displacement) and two
maps of its frame-to-frame noise. The peaks then take their noise floor, SNR
and amplitude sigma from that noise and their systematic part from the model
error, as :func:`vibmag.pipeline.survey` does; region noise combines as the
mean of the per-pixel noise RMS over the region's pixels, and the systematic
part as ``|S - S'|`` with ``S'`` the combined spectrum of displacement minus
model error.

Every function opens the recording itself from its path, so a worker reads
the frames it needs from the file, lazily; nothing large travels from the
client. Results are exactly those of :func:`vibmag.pipeline.survey` for an
untiled recording, and for a tiled one the same averages, joined.

Combination (tiles ``t`` of region weight ``w_t``, mean spectra ``S_t``)::

    S = sum_t w_t S_t / sum_t w_t

which is the region's mean over all its pixels, as :func:`vibmag.spectrum`
computes it on a whole frame (the waveform likewise).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

import dask
import torch

from .. import __version__
from ..analysis import AnalysisError, BandError, RegionError, deflection_shape, find_peaks, region_mask, spectrum, waveform
from ..analysis.shapes import shape_sigma
from ..analysis.spectra import noise_level
from ..errors import RecordingError
from ..flow import estimate_displacement
from ..flow.api import supports_uncertainty
from ..io import open_recording
from ..pipeline import dominant_band, flow_options_for, motion_maps, plot_survey, write_magnified_clip
from ..units import frequency_hz, ureg
from .inputs import Recording
from .settings import BatchSettings

__all__ = [
    "Tile",
    "Job",
    "Clip",
    "TileReduction",
    "RecordingResult",
    "plan_tiles",
    "make_job",
    "tile_displacement",
    "tile_reduce",
    "tile_summary",
    "combine",
    "tile_shapes",
    "magnified_clip",
    "finish",
    "run_job",
    "region_summary",
    "failure_dataset",
]

_SECONDS = "batch_seconds"
#: A tile's displacement is reduced in blocks of rows of about this many bytes (float32).
BLOCK_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Tile:
    """A tile of space: ``inner`` is kept, ``outer`` (inner plus margin, inside the frame) is measured.

    Boxes are ``(y0, x0, y1, x1)``, half-open, in pixels of the frame.
    """

    index: int
    inner: tuple
    outer: tuple

    def inner_in_outer(self) -> tuple:
        """``(slice_y, slice_x)`` of the inner box within the outer crop."""
        (y0, x0, y1, x1), (oy, ox, _, _) = self.inner, self.outer
        return slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox)


def plan_tiles(shape: tuple, parallel) -> tuple[Tile, ...]:
    """Split a recording of ``shape`` (time, y, x, ...) into tiles when its displacement is large.

    One tile (the whole frame, no margin) when ``time * 2 * y * x * 4`` bytes
    are at most ``parallel.tile_above_mb`` MiB, else a grid of tiles of
    ``parallel.tile_size`` px with ``parallel.tile_margin`` px of context.
    """
    n_time, height, width = shape[:3]
    frame = (0, 0, height, width)
    if n_time * 2 * height * width * 4 <= parallel.tile_above_mb * 2**20:
        return (Tile(0, frame, frame),)
    size, margin = parallel.tile_size, parallel.tile_margin
    tiles = []
    for y0 in range(0, height, size):
        for x0 in range(0, width, size):
            y1, x1 = min(y0 + size, height), min(x0 + size, width)
            outer = (max(0, y0 - margin), max(0, x0 - margin), min(height, y1 + margin), min(width, x1 + margin))
            tiles.append(Tile(len(tiles), (y0, x0, y1, x1), outer))
    return tuple(tiles)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to process one recording: where it is and what to compute."""

    recording: Recording
    settings: BatchSettings
    tiles: tuple

    @property
    def name(self) -> str:
        return self.recording.name

    @property
    def whole_frame(self) -> bool:
        return len(self.tiles) == 1 and self.tiles[0].inner == self.tiles[0].outer


def make_job(recording: Recording, settings: BatchSettings) -> Job:
    """The job of one recording under ``settings``."""
    return Job(recording, settings, plan_tiles(recording.shape, settings.parallel))


@dataclass
class TileReduction:
    """What one tile contributes to a recording's summary."""

    tile: Tile
    rms: xr.DataArray  # (component, y, x) of the tile
    peak_to_peak: xr.DataArray
    spectra: dict  # region name -> [(mean spectrum (frequency, component), weight) per block of rows meeting the region]
    waveforms: dict  # region name -> [(mean waveform (time, component), weight) per block]
    seconds: float
    corrected: dict = field(default_factory=dict)  # as spectra, of displacement minus model error (empty lists without error parts)
    noise: dict = field(default_factory=dict)  # region name -> (sum, count) (component) of per-pixel noise RMS in the region


@dataclass
class Clip:
    """The magnified clip of the dominant band (MP4 bytes), or why there is none."""

    data: bytes | None
    band: tuple | None
    note: str
    seconds: float


@dataclass
class TileShapes:
    tile: Tile
    shapes: xr.DataArray  # (region, peak, component, y, x) complex
    seconds: float
    sigma: xr.DataArray | None = None  # (component, y, x): 1-sigma of each quadrature of a shape (with error parts)


@dataclass
class RecordingResult:
    """A recording's results: the Dataset stored in its group, and files to write beside the results file."""

    dataset: xr.Dataset
    files: dict = field(default_factory=dict)  # kind ("plot", "clip") -> (file name, bytes)


# --------------------------------------------------------------------------- worker context


@contextlib.contextmanager
def _on_worker():
    """One torch thread and synchronous dask inside a task; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with dask.config.set(scheduler="synchronous"):
            yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _opened(job: Job):
    """The job's recording, opened lazily (read by whoever runs the task), closed afterwards."""
    options = job.settings.input
    rec = job.recording
    ds = open_recording(rec.path, dataset=rec.dataset, frame_rate=options.frame_rate, pixel_size=options.pixel_size, bit_depth=options.bit_depth)
    try:
        if tuple(ds["frames"].shape) != tuple(rec.shape):
            raise RecordingError(f"{rec.path}: the recording changed while the batch ran (shape {tuple(ds['frames'].shape)}, was {rec.shape})")
        yield ds
    finally:
        ds.close()


# --------------------------------------------------------------------------- tiles


def tile_displacement(job: Job, tile: Tile) -> xr.Dataset:
    """The tile's inner box measured on its outer crop: its displacement and, where measured, its error parts.

    Returns
    -------
    xarray.Dataset
        ``displacement`` (time, component, y, x) px; with the error parts
        (``analysis.uncertainty`` and an estimator that gives them) also
        ``model_error`` (same dims, px, signed), ``noise_rms`` (component, y,
        x) px, the frame-to-frame noise's RMS over time, and ``shape_sigma``
        (component, y, x) px, the 1-sigma of a deflection shape's quadratures
        (:func:`vibmag.analysis.shapes.shape_sigma`). The seconds it took travel in
        ``attrs["batch_seconds"]`` (removed by :func:`tile_reduce`).
    """
    start = time.perf_counter()
    method = job.settings.analysis.flow_method
    with_errors = job.settings.analysis.uncertainty and supports_uncertainty(method)
    with _on_worker(), _opened(job) as ds:
        y0, x0, y1, x1 = tile.outer
        crop = ds if job.whole_frame else ds.isel(y=slice(y0, y1), x=slice(x0, x1))
        parts = {"return_uncertainty": ("noise", "model_error")} if with_errors else {}
        measured = _kept_parts(estimate_displacement(crop, method=method, progress=False, **parts,
                                                     **job.settings.analysis.flow_option_items()))
        if not job.whole_frame:
            inner_y, inner_x = tile.inner_in_outer()
            measured = measured.isel(y=inner_y, x=inner_x).copy(deep=True)  # not a view: the margin's memory is freed
    measured.attrs[_SECONDS] = time.perf_counter() - start
    return measured


def _kept_parts(measured: xr.DataArray | xr.Dataset) -> xr.Dataset:
    """What a tile keeps of the estimate (see :func:`tile_displacement`): the frame-to-frame noise only as two maps."""
    if isinstance(measured, xr.DataArray):
        return xr.Dataset({"displacement": measured})
    noise = measured["noise"]
    blocks = _row_blocks(noise)  # float64 temporaries of a block at a time, not of the tile
    noise_rms = xr.concat([noise_level(noise.isel(y=rows), keep=("component", "y", "x")) for rows in blocks], "y")
    sigma = xr.concat([shape_sigma(noise.isel(y=rows)) for rows in blocks], "y")
    return xr.Dataset({
        "displacement": measured["displacement"],
        "model_error": measured["model_error"],
        "noise_rms": noise_rms,
        "shape_sigma": sigma,
    })


def _without_seconds(measured: xr.Dataset) -> tuple[xr.Dataset, float]:
    """``measured`` without its ``batch_seconds`` attr (a shallow copy; the original is shared), and those seconds."""
    measured = measured.copy(deep=False)
    seconds = measured.attrs.pop(_SECONDS, 0.0)
    return measured, seconds


def _region_weights(job: Job, name: str, region) -> np.ndarray:
    """The region's weights on the whole frame (RegionError naming the region if it does not fit)."""
    height, width = job.recording.shape[1:3]
    frame = xr.DataArray(np.zeros((height, width), np.bool_), dims=("y", "x"), coords={"y": np.arange(height), "x": np.arange(width)})
    try:
        return region_mask(frame, region).values
    except RegionError as exc:
        raise RegionError(f"region {name!r}: {exc}") from None


def _row_blocks(disp: xr.DataArray) -> list[slice]:
    """Rows of ``disp`` taken at once: about :data:`BLOCK_BYTES` of float32 displacement each."""
    row_bytes = disp.sizes["time"] * disp.sizes.get("component", 1) * disp.sizes["x"] * 4
    rows = max(1, BLOCK_BYTES // max(row_bytes, 1))
    return [slice(y, min(y + rows, disp.sizes["y"])) for y in range(0, disp.sizes["y"], rows)]


def tile_reduce(job: Job, tile: Tile, measured: xr.Dataset) -> TileReduction:
    """Reduce a tile's measurement (:func:`tile_displacement`) to its maps and, per region, its means.

    Per region: the mean spectrum and waveform and, with the error parts, the
    mean spectrum of displacement minus model error and the noise RMS summed
    over the region's pixels. The displacement is reduced in blocks of rows
    (:data:`BLOCK_BYTES`), each contributing its region means with its share
    of the region's weight, so memory stays a few times one block whatever the
    tile's size. An untiled recording reduced in one block is computed exactly
    as :func:`vibmag.pipeline.survey` computes it.
    """
    start = time.perf_counter()
    measured, seconds = _without_seconds(measured)
    disp, model_error = measured["displacement"], measured.get("model_error")
    regions = job.settings.analysis.region_items()
    blocks = _row_blocks(disp)
    exact = job.whole_frame and len(blocks) == 1
    y0, x0, y1, x1 = tile.inner
    weights = {name: _region_weights(job, name, region)[y0:y1, x0:x1] for name, region in regions}
    rms, p2p = [], []
    spectra, waveforms, corrected = ({name: [] for name, _ in regions} for _ in range(3))
    with _on_worker():
        for rows in blocks:
            block = disp.isel(y=rows)
            block_rms, block_p2p = motion_maps(block)
            rms.append(block_rms)
            p2p.append(block_p2p)
            fixed = None if model_error is None else (block - model_error.isel(y=rows)).assign_attrs(block.attrs)
            for name, region in regions:
                if exact:
                    where, weight = region, 1.0
                else:
                    share = weights[name][rows]
                    if not share.any():
                        continue
                    where = xr.DataArray(share, dims=("y", "x"), coords={"y": block["y"].values, "x": block["x"].values})
                    weight = float(share.sum())
                spectra[name].append((spectrum(block, region=where), weight))
                waveforms[name].append((waveform(block, region=where), weight))
                if fixed is not None:
                    corrected[name].append((spectrum(fixed, region=where), weight))
    units = disp.attrs.get("units", "px")
    rms = (rms[0] if len(rms) == 1 else xr.concat(rms, "y")).assign_attrs(units=units, long_name="RMS displacement")
    p2p = (p2p[0] if len(p2p) == 1 else xr.concat(p2p, "y")).assign_attrs(units=units, long_name="peak-to-peak displacement")
    noise = {} if "noise_rms" not in measured else {name: _noise_sums(measured["noise_rms"], weights[name] > 0) for name in weights}
    return TileReduction(tile, rms, p2p, spectra, waveforms, seconds + time.perf_counter() - start, corrected, noise)


def _noise_sums(noise_rms: xr.DataArray, inside: np.ndarray) -> tuple[xr.DataArray, xr.DataArray]:
    """Sum and count (component) of the finite per-pixel noise RMS where ``inside`` (y, x) holds."""
    within = noise_rms.where(xr.DataArray(inside, dims=("y", "x")))
    return within.sum(["y", "x"], skipna=True), within.count(["y", "x"])


def tile_summary(job: Job, tile: Tile) -> TileReduction:
    """:func:`tile_displacement` then :func:`tile_reduce`, without keeping the displacement."""
    return tile_reduce(job, tile, tile_displacement(job, tile))


# --------------------------------------------------------------------------- joining


def _stitch(job: Job, parts: list[tuple[Tile, xr.DataArray]], fill=np.nan) -> xr.DataArray:
    """Tiles' (..., y, x) arrays placed on the whole frame (the one array itself when untiled)."""
    if job.whole_frame:
        return parts[0][1]
    height, width = job.recording.shape[1:3]
    first = parts[0][1]
    lead = [d for d in first.dims if d not in ("y", "x")]
    values = np.full((*[first.sizes[d] for d in lead], height, width), fill, dtype=first.dtype)
    for tile, part in parts:
        y0, x0, y1, x1 = tile.inner
        values[..., y0:y1, x0:x1] = part.transpose(*lead, "y", "x").values
    coords = {d: first[d] for d in lead if d in first.coords}
    coords.update(y=("y", np.arange(height), {"units": "px"}), x=("x", np.arange(width), {"units": "px"}))
    return xr.DataArray(values, dims=(*lead, "y", "x"), coords=coords, attrs=dict(first.attrs), name=first.name)


def _region_noise(reductions, name: str) -> xr.DataArray | str:
    """The region's noise (component) px, the mean per-pixel noise RMS over its pixels; "spectrum" without error parts."""
    sums = [r.noise[name] for r in reductions if name in r.noise]
    if not sums:
        return "spectrum"
    level = sum(total for total, _ in sums) / sum(count for _, count in sums)
    return level.assign_attrs(units=sums[0][0].attrs.get("units", "px"), long_name="noise (1 sigma per sample)")


def _systematic(spec: xr.DataArray, reductions, name: str) -> xr.DataArray | None:
    """:func:`vibmag.analysis.systematic_spectrum` of the region from the tiles' corrected spectra (None without)."""
    parts = [part for r in reductions for part in r.corrected.get(name, [])]
    if not parts:
        return None
    return abs(spec - _weighted(parts)).assign_attrs(spec.attrs).rename("systematic")


def _weighted(parts: list) -> xr.DataArray:
    """Mean of per-block means weighted by each block's share of the region (the one mean when there is one)."""
    if len(parts) == 1:
        return parts[0][0]
    total = sum(w for _, w in parts)
    values = sum(np.asarray(a.values, dtype=np.float64) * w for a, w in parts) / total
    return parts[0][0].copy(data=values)


def combine(job: Job, *reductions: TileReduction) -> xr.Dataset:
    """The recording's summary from its tiles: maps, per-region spectra, waveforms and peaks.

    Returns
    -------
    xarray.Dataset
        ``rms``, ``peak_to_peak`` (component, y, x) px; ``spectrum``
        (region, frequency, component); ``waveform`` (region, time, component);
        the peak tables of :func:`vibmag.analysis.find_peaks` per region along
        ``peak`` (``n_peaks`` long, NaN where a region has fewer peaks),
        prefixed ``peak_``, with ``peak_amplitude_sigma``, ``peak_noise_floor``
        and ``peak_snr``; ``region_mask`` (region, y, x) weights. With the
        error parts (:func:`tile_displacement`) the peaks' noise is the
        measurement's own, ``noise`` (region, component) px as in
        :func:`vibmag.pipeline.survey`, and they carry
        ``peak_amplitude_systematic``; without, the noise floor is the
        spectrum's own (``find_peaks(noise="spectrum")``).
    """
    start = time.perf_counter()
    reductions = sorted(reductions, key=lambda r: r.tile.index)
    n_peaks = job.settings.analysis.n_peaks
    per_region = []
    for name, region in job.settings.analysis.region_items():
        spec = _weighted([part for r in reductions for part in r.spectra[name]])
        noise = _region_noise(reductions, name)
        peaks = find_peaks(spec, n=n_peaks, noise=noise, systematic=_systematic(spec, reductions, name))
        peaks = peaks.rename({v: f"peak_{v}" for v in peaks.data_vars})
        peaks = peaks.pad(peak=(0, n_peaks - peaks.sizes["peak"])) if peaks.sizes["peak"] < n_peaks else peaks
        weights = _region_weights(job, name, region).astype(np.float32)
        mask = xr.DataArray(weights, dims=("y", "x"), attrs={"units": "1", "long_name": "region weight"})
        part = xr.Dataset({"spectrum": spec, "waveform": _weighted([part for r in reductions for part in r.waveforms[name]]), "region_mask": mask})
        if not isinstance(noise, str):
            part["noise"] = noise
        per_region.append(part.merge(peaks))
    regions = [name for name, _ in job.settings.analysis.region_items()]
    summary = xr.concat(per_region, dim="region", combine_attrs="override", coords="minimal", compat="override")
    summary = summary.assign_coords(region=("region", regions))
    summary["rms"] = _stitch(job, [(r.tile, r.rms) for r in reductions])
    summary["peak_to_peak"] = _stitch(job, [(r.tile, r.peak_to_peak) for r in reductions])
    summary = summary.assign_coords(y=("y", np.arange(job.recording.shape[1]), {"units": "px"}),
                                    x=("x", np.arange(job.recording.shape[2]), {"units": "px"}))
    summary.attrs = {k: v for k, v in per_region[0]["spectrum"].attrs.items() if k in ("frame_rate", "pixel_size")}
    summary.attrs["compute_seconds"] = sum(r.seconds for r in reductions) + time.perf_counter() - start
    return summary


def region_summary(result: xr.Dataset, region: str | None = None) -> xr.Dataset:
    """One region's results in the layout of :func:`vibmag.pipeline.survey` (peaks that exist only).

    So :func:`vibmag.pipeline.dominant_band`, :func:`~vibmag.pipeline.peak_table`
    and :func:`~vibmag.pipeline.plot_survey` work on a batch result:
    ``plot_survey(region_summary(vibmag.load("results.h5", group="m1")), "m1.png")``.

    Parameters
    ----------
    result : xarray.Dataset
        A recording's group of the results file (or :func:`combine`'s summary).
    region : str, optional
        Its name; default the first region.
    """
    name = str(result["region"].values[0]) if region is None else region
    if name not in result["region"].values:
        raise KeyError(f"no region {name!r}; the results hold {', '.join(map(str, result['region'].values))}")
    one = result.sel(region=name)
    found = np.flatnonzero(np.isfinite(one["peak_frequency"].values))
    return one.isel(peak=found).drop_vars("region")


def tile_shapes(job: Job, tile: Tile, measured: xr.Dataset, summary: xr.Dataset) -> TileShapes:
    """Deflection shapes of the tile at every peak of every region (NaN where a region has no such peak).

    Computed in blocks of rows (per pixel, so the blocks change nothing but
    memory); with the error parts also their 1-sigma (the measurement's
    ``shape_sigma``), the same at every frequency.
    """
    start = time.perf_counter()
    measured, _ = _without_seconds(measured)
    disp = measured["displacement"]
    freqs = summary["peak_frequency"].transpose("region", "peak").values
    found = np.isfinite(freqs)
    dims = ("component", "y", "x")
    values = np.full((*freqs.shape, *(disp.sizes[d] for d in dims)), np.nan + 1j * np.nan, dtype=np.complex128)
    with _on_worker():
        for rows in _row_blocks(disp):
            block = disp.isel(y=rows)
            for f in np.unique(freqs[found]):
                shape = deflection_shape(block, ureg.Quantity(float(f), "Hz")).transpose(*dims).values
                values[found & (freqs == f), :, rows, :] = shape
    shapes = xr.DataArray(values, dims=("region", "peak", *dims), coords={d: disp[d] for d in dims if d in disp.coords},
                          name="deflection_shape",
                          attrs={"units": disp.attrs.get("units", "px"), "long_name": "deflection shape (complex amplitude) at peak_frequency"})
    return TileShapes(tile, shapes, time.perf_counter() - start, measured.get("shape_sigma"))


def magnified_clip(job: Job, summary: xr.Dataset) -> Clip:
    """An MP4 of the recording (its first ``max_frames``) beside it with its dominant band magnified.

    The band is :func:`vibmag.pipeline.dominant_band` of the first region. A
    recording without a peak, or too short for the band, gets no clip, and a note why.
    """
    start = time.perf_counter()
    options = job.settings.magnify
    try:
        band = dominant_band(region_summary(summary), relative_width=options.relative_width)
    except AnalysisError as exc:
        return Clip(None, None, f"no clip: {exc}", time.perf_counter() - start)
    with _on_worker(), _opened(job) as ds, tempfile.TemporaryDirectory(prefix="vibmag-clip-") as folder:
        clip = ds.isel(time=slice(0, options.max_frames))
        region = None if options.region in (None, "all") else options.region
        path = Path(folder) / "clip.mp4"
        try:
            write_magnified_clip(clip, path, options.alpha, band_hz=tuple(frequency_hz(edge) for edge in band),
                                 method=options.method, region=region, fps=options.fps,
                                 flow_method=job.settings.analysis.flow_method,
                                 flow_options=flow_options_for(options.method, job.settings.analysis.flow_option_items()))
        except BandError as exc:  # e.g. a band too low for the clip's length
            return Clip(None, band, f"no clip: {exc}", time.perf_counter() - start)
        data = path.read_bytes()
    return Clip(data, band, "", time.perf_counter() - start)


# --------------------------------------------------------------------------- the result


def finish(job: Job, summary: xr.Dataset, clip: Clip | None, *shapes: TileShapes) -> RecordingResult:
    """The recording's result: summary, deflection shapes, plot, clip and provenance."""
    start = time.perf_counter()
    result = summary.copy()
    seconds = summary.attrs.get("compute_seconds", 0.0)
    if shapes:
        shapes = sorted(shapes, key=lambda s: s.tile.index)
        result["deflection_shape"] = _stitch(job, [(s.tile, s.shapes) for s in shapes], fill=np.nan + 1j * np.nan)
        if all(s.sigma is not None for s in shapes):
            sigma = _stitch(job, [(s.tile, s.sigma) for s in shapes])
            result["deflection_shape_sigma"] = sigma.assign_attrs(long_name="1-sigma of each quadrature of deflection_shape")
        seconds += sum(s.seconds for s in shapes)
    rec, settings = job.recording, job.settings
    files = {}
    first_region = str(result["region"].values[0])
    if settings.output.plots:
        files["plot"] = (f"{rec.name}_spectrum.png", _plot_bytes(region_summary(result), f"{rec.name}: displacement spectrum ({first_region})"))
    if clip is not None:
        seconds += clip.seconds
        if clip.data is not None:
            files["clip"] = (f"{rec.name}_magnified.mp4", clip.data)
    result.attrs = {
        "status": "complete",
        "recording": rec.name,
        "source": rec.path,
        "dataset": rec.dataset or "",
        "frame_rate": rec.frame_rate,
        **({"pixel_size": summary.attrs["pixel_size"]} if "pixel_size" in summary.attrs else {}),
        "settings": settings.to_dict(),
        "settings_digest": settings.digest(),
        "input": rec.identity(),
        "vibmag_version": __version__,
        "tiles": len(job.tiles),
        "regions": [name for name, _ in settings.analysis.region_items()],
        "dominant_band": list(clip.band) if clip is not None and clip.band else "",
        "clip_note": clip.note if clip is not None else "",
        "plot_file": files["plot"][0] if "plot" in files else "",
        "clip_file": files["clip"][0] if "clip" in files else "",
        "run_compute_seconds": seconds + time.perf_counter() - start,
    }
    return RecordingResult(result, files)


def _plot_bytes(summary: xr.Dataset, title: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="vibmag-plot-") as folder:
        path = Path(folder) / "plot.png"
        plot_survey(summary, path, title=title)
        return path.read_bytes()


def failure_dataset(name: str, path: str, dataset: str | None, settings: BatchSettings, error: BaseException | str, trace: str = "") -> xr.Dataset:
    """The group recorded for a recording that failed: no data, its error and provenance in attrs."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    if not trace and isinstance(error, BaseException):
        trace = "".join(traceback.format_exception(error))
    return xr.Dataset(attrs={
        "status": "failed",
        "recording": name,
        "source": path,
        "dataset": dataset or "",
        "error": message,
        "traceback": trace,
        "settings": settings.to_dict(),
        "settings_digest": settings.digest(),
        "vibmag_version": __version__,
    })


def run_job(job: Job) -> RecordingResult:
    """Process one recording in this process, with the same steps (and results) as a batch's workers."""
    tiles = job.tiles
    if job.settings.analysis.deflection_shapes:
        displacements = [tile_displacement(job, tile) for tile in tiles]
        reductions = [tile_reduce(job, tile, disp) for tile, disp in zip(tiles, displacements)]
    else:
        displacements, reductions = [], [tile_summary(job, tile) for tile in tiles]
    summary = combine(job, *reductions)
    clip = magnified_clip(job, summary) if job.settings.magnify.enabled else None
    shapes = [tile_shapes(job, tile, disp, summary) for tile, disp in zip(tiles, displacements)]
    return finish(job, summary, clip, *shapes)
