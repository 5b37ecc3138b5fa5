"""Whole-recording magnification: the one place that chains the layers (API.md, "Magnification").

:func:`magnify` streams a recording through up to two passes over chunks of
frames, with bounded memory whatever its length:

1. (band-selective or displacement-based methods) per-frame quantities of
   every frame — displacement from the flow estimator, or the classical
   methods' pyramid features — go into a disk-backed
   :class:`~vibmag.streaming.TemporalStore`, which is then band-passed along
   time, zero-phase, tile by tile;
2. each chunk is magnified with the selected change and written to a
   disk-backed frame sink, from which the result is returned in memory (small
   results) or saved to the HDF5 file ``output``.

Band-selective magnification (METHOD.md section 2): only the band-passed
part ``B`` of the motion is magnified; out-of-band motion (drift, other modes)
stays as recorded.

* ``"lagrangian"``: each frame is resampled so that the material seen at
  ``p`` moves by ``alpha * B(p)`` instead of ``B(p)``: ``J(q) = I_t(q - (alpha - 1) B(q))``.
* ``"splat"``: each pixel of the frame is moved forward by ``(alpha - 1) B``
  (a z-ordered splat, the larger motion in front), so outlines move with their
  object; what it uncovers is filled by the ``"lagrangian"`` warp.
* ``"flowmag"``: the self-supervised generator with ``B`` as its flow input
  (flow-conditioned model), or, for an images-only model, the paper's
  generator applied to the band-only frame (out-of-band motion removed by
  resampling, then put back).
* ``"linear"``, ``"phase"``: the classical Eulerian magnifiers with the band
  as their temporal filter.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import warnings
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import torch
import xarray as xr

from .. import __version__
from ..analysis import band_filter, check_band, region_mask
from ..errors import MagnifyError, OverwriteError, VibmagWarning
from ..flow import get_estimator, warp
from ..flow.api import iter_displacement
from ..flow.evidence import MotionEvidence
from ..flow.filters import to_luminance
from ..io import open_recording
from ..io.hdf5 import save
from ..io.outputs import check_output
from ..magnification import adapt, load_model, magnify_pair
from ..magnification.alpha import DEFAULT_TRANSITION, alpha_grid, with_region
from ..magnification.classical import LinearEulerian, RieszPhase, TemporalFilter
from ..magnification.splat import forward_splat
from ..progress import Progress, Ticker
from ..recording import describe_frames, frame_rate_hz, lazy_time_chunks
from ..streaming import TemporalStore
from ..units import format_quantity, frequency_hz

__all__ = ["magnify", "METHODS", "MagnifyError", "MotionEvidence", "DEFAULT_TRANSITION", "MEMORY_RESULT_BYTES"]

#: The magnification methods, the self-supervised model first (the default).
METHODS = ("flowmag", "lagrangian", "splat", "linear", "phase")
#: The largest alpha accepted (beyond it float32 arithmetic overflows; far below, the warning after pass 1 says when it is too much).
MAX_ALPHA = 1e9
#: Results up to this size (float32 frames) are returned in memory; larger ones need ``output=``.
MEMORY_RESULT_BYTES = 1 * 2**30


@dataclass(frozen=True)
class _Plan:
    """Validated settings of one magnification run."""

    alpha: np.ndarray  # (H, W) float32 per-pixel magnification, region and transition applied
    band_hz: tuple[float, float] | None
    frame_rate_hz: float
    reference: int
    n_time: int
    chunk_frames: int
    gate: bool


def magnify(
    ds: xr.Dataset,
    alpha,
    *,
    band=None,
    region=None,
    method: str = "flowmag",
    model=None,
    reference: int = 0,
    adapt_steps: int = 0,
    transition: float = DEFAULT_TRANSITION,
    flow_method: str | None = None,
    gate: bool = True,
    chunk_frames: int = 16,
    output=None,
    overwrite: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    workdir=None,
) -> xr.Dataset:
    """Magnify the motion of a recording, optionally only in one band and one region.

    Parameters
    ----------
    ds : xarray.Dataset
        A recording (:func:`vibmag.open_recording`), at least 2 frames.
    alpha : float or array-like (y, x)
        Magnification factor (> 0, finite), or a per-pixel map on the frame grid.
    band : (low, high), optional
        Frequencies with units (``("15 Hz", "35 Hz")``). Only motion in the band
        is magnified; other motion stays as recorded. None: all motion relative
        to the reference frame (with two frames: frame 1 against frame 0, the
        paper's static mode).
    region : mask, polygon or box, optional
        Where to magnify (as :func:`vibmag.region_mask`); alpha is 1 outside,
        rising smoothly over ``transition`` px inside the edge.
    method : {"flowmag", "lagrangian", "splat", "linear", "phase"}
        The self-supervised model (default), a warp by the band-passed
        displacement (backward, or a z-ordered forward splat that moves
        outlines with their objects), or the classical Eulerian magnifiers.
    model : vibmag.Magnifier, optional
        For ``"flowmag"``; default :func:`vibmag.load_model` (shipped weights).
    reference : int
        Index of the reference frame.
    adapt_steps : int
        Test-time adaptation steps on this recording before magnifying (``"flowmag"``).
    transition : float
        Width of the alpha ramp at a region's edge, px (default 8).
    flow_method : str, optional
        Flow estimator for displacement-based methods (default vibmag's).
    gate : bool
        Displacement-based methods: scale ``alpha - 1`` per pixel by the
        evidence that the measured motion is real (:class:`MotionEvidence`), so
        static background and noise-only areas stay still. The map is
        returned as the ``motion_evidence`` variable.
    chunk_frames : int
        Frames processed at once; memory grows with it, not with the recording.
    output : path-like, optional
        HDF5 file to stream the result into (required when the result is
        larger than :data:`MEMORY_RESULT_BYTES`); the returned Dataset is then
        read lazily from it.
    overwrite : bool
        Replace an existing ``output``.
    progress : callable, optional
        ``progress(done, total)`` after each chunk of each pass.
    cancel : threading.Event, optional
        Set it from another thread to stop; raises :class:`vibmag.errors.CancelledError`
        and leaves no partial output.
    workdir : path-like, optional
        Folder for the temporary disk-backed stores (default: the system's).

    Returns
    -------
    xarray.Dataset
        ``frames`` magnified, float32 in [0, 1], same layout, coords and attrs
        as the input's, plus provenance attrs ``alpha``, ``band``, ``region``,
        ``method``, ``model``, ``reference``, ``adapt_steps``, ``vibmag_version``.

    Raises
    ------
    MagnifyError, vibmag.analysis.BandError, vibmag.analysis.RegionError, vibmag.UnitError
        Bad arguments, before any work is done.

    Examples
    --------
    >>> import vibmag
    >>> from vibmag.synthetic import Mode, vibrating_plate
    >>> ds = vibrating_plate((48, 48), n_frames=64, frame_rate="500 Hz", modes=[Mode("40 Hz", 0.1)])
    >>> out = vibmag.magnify(ds, 10, band=("30 Hz", "50 Hz"), method="lagrangian")
    >>> out["frames"].shape, out.attrs["method"]
    ((64, 48, 48), 'lagrangian')
    """
    if method not in METHODS:
        raise MagnifyError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    plan = _make_plan(ds, alpha, band, region, reference, transition, chunk_frames, gate)
    _check_output(ds, plan, output, overwrite)
    runner, identity = _runner(method, ds, plan, model=model, adapt_steps=adapt_steps, flow_method=flow_method)
    ticker = Ticker(progress, cancel, total=plan.n_time * (2 if plan.band_hz or method in ("flowmag", "lagrangian", "splat") else 1), what="magnification")
    with _FrameSink(ds, workdir) as sink:
        extra = runner(ds, plan, sink, ticker, workdir)
        attrs = _provenance(ds, alpha, band, region, method, identity, plan, adapt_steps)
        return sink.result(attrs, extra, output, overwrite)


def _make_plan(ds, alpha, band, region, reference, transition, chunk_frames, gate) -> _Plan:
    """Validate every argument that can be checked before work starts."""
    if "frames" not in ds or ds["frames"].dims[:3] != ("time", "y", "x"):
        raise MagnifyError("magnify takes a recording Dataset with frames (time, y, x[, channel]); see vibmag.open_recording")
    n_time, height, width = (ds.sizes[d] for d in ("time", "y", "x"))
    if n_time < 2:
        raise MagnifyError(f"magnification needs at least 2 frames (a reference and a moving frame); the recording has {n_time}")
    if not (isinstance(reference, (int, np.integer)) and -n_time <= reference < n_time):
        raise MagnifyError(f"reference must be a frame index in [0, {n_time}), got {reference!r}")
    if chunk_frames < 1:
        raise MagnifyError(f"chunk_frames must be >= 1, got {chunk_frames}")
    frames = ds["frames"].data
    if isinstance(frames, np.ndarray) and np.issubdtype(frames.dtype, np.floating) and not np.isfinite(frames).all():
        bad = np.flatnonzero(~np.isfinite(frames).reshape(n_time, -1).all(axis=1))
        raise MagnifyError(f"{ds.attrs.get('source', 'the recording')}: NaN or infinite values in {describe_frames(bad, n_time)}; "
                           "magnify needs finite frames")
    rate = frame_rate_hz(ds)
    band_hz = None if band is None else check_band(band, rate, n_time=n_time)
    try:
        np.asarray(alpha.values if isinstance(alpha, xr.DataArray) else alpha, dtype=np.float64)
    except (TypeError, ValueError):
        raise MagnifyError(f"alpha must be a number or a (y, x) map of numbers, got {alpha!r}") from None
    alpha_map = alpha_grid(alpha, (height, width))
    if alpha_map.max() > MAX_ALPHA:
        raise MagnifyError(f"alpha must be at most {MAX_ALPHA:g}, got {float(alpha_map.max()):g}")
    if region is not None:
        if isinstance(transition, bool) or not isinstance(transition, Real) or not (transition == 0 or 1e-3 <= transition < np.inf):
            raise MagnifyError(f"transition must be 0 px (a hard edge) or a width of at least 0.001 px, got {transition!r}")
        alpha_map = with_region(alpha_map, region_mask(ds, region).values > 0.5, transition)
    return _Plan(alpha_map.astype(np.float32), band_hz, rate, int(reference) % n_time, n_time, int(chunk_frames), bool(gate))


def _check_output(ds, plan: _Plan, output, overwrite: bool) -> None:
    """Refuse an output that exists (unless overwrite), is the input, or is missing for a large result."""
    size = plan.n_time * int(np.prod(ds["frames"].shape[1:])) * 4
    if output is None:
        if size > MEMORY_RESULT_BYTES:
            raise MagnifyError(
                f"the result would be {size / 2**30:.1f} GiB; pass output='result.h5' to stream it to disk"
            )
        return
    path = Path(output)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        raise MagnifyError(f"output must be an HDF5 file (.h5/.hdf5), got {path.name}; write videos with vibmag.write_video")
    if path.exists() and not overwrite:
        raise OverwriteError(f"{path}: exists; pass overwrite=True to replace it")
    if not path.parent.is_dir():
        raise MagnifyError(f"{path}: the folder {path.parent} does not exist")
    check_output(path, suffixes=(".h5", ".hdf5"), inputs=[ds], overwrite=overwrite)  # writable, not an input, a vibmag file


class _FrameSink:
    """Magnified frames written chunk by chunk to a temporary float32 file."""

    def __init__(self, ds: xr.Dataset, workdir):
        self.ds = ds
        self.shape = ds["frames"].shape
        self.store = TemporalStore(self.shape[0], int(np.prod(self.shape[1:])), directory=workdir)

    def write(self, start: int, frames: np.ndarray) -> None:
        self.store.write(start, np.clip(frames, 0.0, 1.0).reshape(frames.shape[0], -1))

    def result(self, attrs: dict, extra: dict, output, overwrite: bool) -> xr.Dataset:
        """The magnified recording (plus ``extra`` variables): in memory, or saved to ``output`` and opened lazily."""
        if output is None:
            frames = self.store.read(0, self.shape[0]).reshape(self.shape)
            return self._dataset(frames, attrs).assign(extra)
        rows = lazy_time_chunks(self.shape[1:])
        blocks = [da.from_delayed(_delayed_read(self.store, s, min(s + rows, self.shape[0]), self.shape[1:]), shape=(min(rows, self.shape[0] - s),) + self.shape[1:], dtype=np.float32) for s in range(0, self.shape[0], rows)]
        save(self._dataset(da.concatenate(blocks), attrs).assign(extra), output, overwrite=overwrite)
        return open_recording(output)

    def _dataset(self, frames, attrs: dict) -> xr.Dataset:
        out = self.ds.drop_vars([name for name in self.ds.data_vars if name != "frames"])
        out = out.assign(frames=(self.ds["frames"].dims, frames, dict(self.ds["frames"].attrs)))
        out.attrs = {**self.ds.attrs, **attrs}
        return out

    def __enter__(self) -> _FrameSink:
        return self

    def __exit__(self, *exc) -> None:
        self.store.close()


def _delayed_read(store: TemporalStore, start: int, stop: int, frame_shape: tuple):
    return dask.delayed(lambda: store.read(start, stop).reshape((stop - start,) + frame_shape))()


def _chunks(plan: _Plan):
    """Time slices of ``plan.chunk_frames`` frames."""
    for start in range(0, plan.n_time, plan.chunk_frames):
        yield slice(start, min(start + plan.chunk_frames, plan.n_time))


def _frames(ds: xr.Dataset, window: slice) -> torch.Tensor:
    """Frames of a window as a float32 tensor (n, C, H, W)."""
    values = torch.from_numpy(np.asarray(ds["frames"].isel(time=window).values, dtype=np.float32))
    return values[:, None] if values.dim() == 3 else values.permute(0, 3, 1, 2)


def _to_numpy(frames: torch.Tensor) -> np.ndarray:
    """(n, C, H, W) tensor -> (n, H, W) or (n, H, W, C) array."""
    return frames[:, 0].numpy() if frames.shape[1] == 1 else frames.permute(0, 2, 3, 1).numpy()


# --- classical Eulerian methods ------------------------------------------------------------------


def _runner(method: str, ds, plan: _Plan, *, model, adapt_steps: int, flow_method):
    """The function running ``method``, and a string identifying what did the work."""
    if method in ("linear", "phase"):
        algorithm = LinearEulerian() if method == "linear" else RieszPhase()
        return (lambda *args: _run_classical(algorithm, *args)), repr(algorithm)
    estimator = get_estimator(flow_method)
    if method == "lagrangian":
        return (lambda *args: _run_displacement(estimator, _lagrangian_step, *args)), f"lagrangian warp, flow {flow_method or 'default'}"
    if method == "splat":
        return (lambda *args: _run_displacement(estimator, _splat_step, *args)), f"forward splat, flow {flow_method or 'default'}"
    model = _flowmag_model(model, ds, adapt_steps)
    step = _flowmag_step(model)
    return (lambda *args: _run_displacement(estimator, step, *args)), _model_identity(model, adapt_steps)


def _run_classical(algorithm, ds, plan: _Plan, sink: _FrameSink, ticker: Ticker, workdir) -> dict:
    """Both passes of a classical magnifier, channel by channel; no extra variables."""
    alpha = torch.from_numpy(plan.alpha)
    reference = _frames(ds, slice(plan.reference, plan.reference + 1))[0]
    stores = []
    with contextlib.ExitStack() as stack:
        if plan.band_hz is not None:
            stores = [stack.enter_context(_classical_features(algorithm, ds, plan, reference, c, ticker, workdir)) for c in range(reference.shape[0])]
        for window in _chunks(plan):
            frames = _frames(ds, window)
            out = torch.empty_like(frames)
            for c in range(frames.shape[1]):
                if stores:
                    change = torch.from_numpy(stores[c].read(window.start, window.stop))
                else:
                    change = algorithm.features(frames[:, c], reference[c]) - algorithm.features(reference[c][None], reference[c])
                out[:, c] = algorithm.apply(frames[:, c], reference[c], change, alpha)
            sink.write(window.start, _to_numpy(out))
            ticker.advance(window.stop - window.start)
    return {}


def _classical_features(algorithm, ds, plan: _Plan, reference: torch.Tensor, channel: int, ticker: Ticker, workdir) -> TemporalStore:
    """Pass 1 for one channel: every frame's features on disk, band-passed along time."""
    n_channels = reference.shape[0]
    n_features = algorithm.features(reference[channel][None], reference[channel]).shape[1]
    store = TemporalStore(plan.n_time, n_features, directory=workdir)
    try:
        for window in _chunks(plan):
            frames = _frames(ds, window)[:, channel]
            store.write(window.start, algorithm.features(frames, reference[channel]).numpy())
            ticker.advance((window.stop - window.start) / n_channels)
        store.filter(_band_filter(plan), cancel=ticker.cancel)
    except BaseException:
        store.close()
        raise
    return store


def _band_filter(plan: _Plan) -> TemporalFilter:
    """The plan's temporal filter: zero-phase band-pass along axis 0 (time) over ``plan.band_hz``."""
    return band_filter(*plan.band_hz, plan.frame_rate_hz)


# --- displacement-based methods ------------------------------------------------------------------


def _run_displacement(estimator, step, ds, plan: _Plan, sink: _FrameSink, ticker: Ticker, workdir) -> dict:
    """Pass 1: displacement of every frame (band-passed on disk); pass 2: ``step`` magnifies each chunk.

    Returns the ``motion_evidence`` map (gate) as an extra variable.
    """
    reference = _frames(ds, slice(plan.reference, plan.reference + 1))
    ref_luma = to_luminance(reference)
    height, width = reference.shape[-2:]
    evidence = MotionEvidence(ref_luma)
    with TemporalStore(plan.n_time, 2 * height * width, directory=workdir) as store:
        for part in iter_displacement(ds[["frames"]], estimator, _to_numpy(reference)[0], chunk_frames=plan.chunk_frames,
                                      batch_frames=plan.chunk_frames, cancel=ticker.cancel):
            with torch.no_grad():
                evidence.add(to_luminance(part.frames), part.flow)
            store.write(part.window.start, part.flow.reshape(part.flow.shape[0], -1).numpy())
            ticker.advance(part.window.stop - part.window.start)
        weights = evidence.component_weights(transition=DEFAULT_TRANSITION) if plan.gate else np.ones((2, height, width))
        gate = weights.max(axis=0).astype(np.float32)
        # each component magnified by 1 + (alpha - 1) * its own weight: alpha carries the larger, the share the rest
        share = torch.from_numpy(np.divide(weights, gate, out=np.zeros_like(weights), where=gate > 0).astype(np.float32))[None]
        alpha = torch.from_numpy(1.0 + (plan.alpha - 1.0) * gate)[None, None]
        if plan.band_hz is not None:
            store.filter(_band_filter(plan), cancel=ticker.cancel)
        _warn_if_too_large(plan, store, weights, (height, width))
        for window in _chunks(plan):
            frames = _frames(ds, window)
            selected = torch.from_numpy(store.read(window.start, window.stop)).view(-1, 2, height, width) * share
            with torch.no_grad():
                out = step(reference, frames, selected, alpha)
            sink.write(window.start, _to_numpy(out))
            ticker.advance(window.stop - window.start)
    return {"motion_evidence": (("y", "x"), gate, {"units": "1", "long_name": "weight of alpha - 1 (motion evidence)"})}


def _warn_if_too_large(plan: _Plan, store: TemporalStore, weights: np.ndarray, frame_shape: tuple) -> None:
    """VibmagWarning (after pass 1, before pass 2) where alpha times the measured motion exceeds a quarter of the frame.

    The measured motion is typical, not extreme: the median, over the pixels alpha magnifies, of each pixel's largest
    magnified displacement (a few ill-measured pixels at edges or in untextured areas must not warn).

    ``weights`` (2, H, W): the gate of each displacement component (x, y), so only the motion that will be magnified counts.
    """
    peak = np.zeros(frame_shape)  # each pixel's largest magnified motion, px
    change = np.abs(plan.alpha - 1.0)
    for window in _chunks(plan):
        flow = store.read(window.start, window.stop).reshape(-1, 2, *frame_shape)
        applied = np.hypot(flow[:, 0] * weights[0], flow[:, 1] * weights[1]) * change
        peak = np.fmax(peak, np.nanmax(applied, axis=0, initial=0.0))
    # typical, not extreme: the median over the magnified pixels, so a few ill-measured pixels do not warn
    magnified_pixels = peak[(change * weights.max(axis=0)) > 0]
    magnified = float(np.median(magnified_pixels)) if magnified_pixels.size else 0.0
    limit = min(frame_shape) / 4
    if magnified > limit:
        warnings.warn(
            f"alpha {float(plan.alpha.max()):g} times the measured motion moves the image by {magnified:.3g} px (median over the "
            f"magnified pixels of each one's largest motion), more than a "
            f"quarter of the frame ({limit:g} px); the magnified frames will be mostly artefacts: lower alpha, or pick a band",
            VibmagWarning, stacklevel=4,
        )


def _lagrangian_step(reference, frames, selected, alpha) -> torch.Tensor:
    """J(q) = I_t(q - (alpha - 1) * B(q)): the band motion made alpha times as large."""
    return warp(frames, -(alpha - 1.0) * selected)


def _splat_step(reference, frames, selected, alpha) -> torch.Tensor:
    """I_t forward-splatted by (alpha - 1) * B, the larger motion in front; what it uncovers from the Lagrangian warp."""
    shift = (alpha - 1.0) * selected
    return forward_splat(frames, shift, fill=warp(frames, -shift))[0]


def _flowmag_model(model, ds, adapt_steps: int):
    """The Magnifier to use: the given or shipped one, test-time adapted if asked."""
    model = load_model() if model is None else model
    if adapt_steps:
        model = adapt(model, ds, steps=int(adapt_steps))
    return model.eval()


def _flowmag_step(model):
    """Magnify a chunk with the generator given the selected displacement as its flow input."""
    def step(reference, frames, selected, alpha) -> torch.Tensor:
        channels = [magnify_pair(model, reference[:, c : c + 1], frames[:, c : c + 1], alpha.expand(frames.shape[0], -1, -1, -1), flow=selected, confidence=torch.ones_like(selected[:, :1])) for c in range(frames.shape[1])]
        return torch.cat(channels, dim=1)

    return step


def _model_identity(model, adapt_steps: int) -> str:
    """A short string saying which weights magnified (their hash) and whether they were adapted."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    base = f"vibmag Magnifier {getattr(model, 'variant', '')} sha256:{digest.hexdigest()[:16]}"
    return base + (f", adapted {adapt_steps} steps" if adapt_steps else "")


def _provenance(ds, alpha, band, region, method, identity, plan: _Plan, adapt_steps) -> dict:
    """Attrs recording what was done, as plain values (JSON-able)."""
    scalar = np.ndim(alpha.values if isinstance(alpha, xr.DataArray) else alpha) == 0
    return {
        "alpha": float(alpha) if scalar else "per-pixel map",
        "alpha_max": float(plan.alpha.max()),
        "band": None if band is None else [edge if isinstance(edge, str) else format_quantity(frequency_hz(edge), "Hz") for edge in band],
        "region": _describe_region(region),
        "method": method,
        "model": identity,
        "reference": plan.reference,
        "adapt_steps": int(adapt_steps),
        "vibmag_version": __version__,
    }


def _describe_region(region):
    """A region as JSON-able provenance: the box or polygon, or 'mask'."""
    if region is None:
        return None
    values = np.asarray(region.values if isinstance(region, xr.DataArray) else region)
    if values.dtype == bool or values.ndim != 2 or values.shape[1] != 2:
        return values.tolist() if values.ndim == 1 else "mask"
    return values.tolist()
