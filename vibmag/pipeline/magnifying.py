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

Where alpha is 1 (outside a region, or where a per-pixel map is 1) the output
is the input, so a run computes only the box where alpha differs from 1 plus
:data:`CROP_MARGIN` px of context (issue 14; docs/guide.md, "Regions"): flow,
gate, features and magnification all run on that crop, and the rest of each
frame is copied from the recording. The displacement-based methods measure
again on a larger crop where the magnified motion needs more context.
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
from ..analysis import band_filter, check_band, region_bounds, region_mask
from ..errors import MagnifyError, OverwriteError, VibmagWarning
from ..flow import check_flow_options, get_estimator, warp
from ..flow.api import _expand_box, batch_frames_for, iter_displacement
from ..flow.evidence import MotionEvidence
from ..flow.filters import to_luminance
from ..io import open_recording
from ..io.hdf5 import save
from ..io.outputs import check_output
from ..magnification import adapt, load_model, magnify_pair
from ..magnification.alpha import DEFAULT_TRANSITION, alpha_grid, with_region
from ..magnification.classical import LinearEulerian, RieszPhase, TemporalFilter
from ..magnification.pyramid import max_levels
from ..magnification.splat import splat_warp
from ..progress import Progress, Ticker, as_progress
from ..recording import describe_frames, frame_rate_hz, lazy_time_chunks
from ..streaming import TemporalStore
from ..units import format_quantity, frequency_hz

__all__ = ["magnify", "METHODS", "MEASURES_FLOW", "flow_options_for", "MagnifyError", "MotionEvidence", "DEFAULT_TRANSITION", "MEMORY_RESULT_BYTES", "CROP_MARGIN"]

#: The magnification methods, the self-supervised model first (the default).
METHODS = ("flowmag", "lagrangian", "splat", "linear", "phase")
#: The methods that measure the displacement (and so take ``flow_method`` and ``flow_options``).
MEASURES_FLOW = ("flowmag", "lagrangian", "splat")
#: The largest alpha accepted (beyond it float32 arithmetic overflows; far below, the warning after pass 1 says when it is too much).
MAX_ALPHA = 1e9
#: Results up to this size (float32 frames) are returned in memory; larger ones need ``output=``.
MEMORY_RESULT_BYTES = 1 * 2**30

# --- the crop (issue 14): what reaches from outside the box where alpha != 1 into it, measured in
# tests/test_magnify_region_crop.py and benchmarks/region_crop.py
#: Context (px) computed around the box where alpha != 1, then discarded, for magnified motion up to _MARGIN_MOTION px
#: (see _margin_for for more, and _crop_box for what it covers).
CROP_MARGIN = 32
#: The largest magnified displacement (px) that CROP_MARGIN serves.
_MARGIN_MOTION = 8.0
#: Margin (px) added per doubling of the magnified displacement beyond _MARGIN_MOTION.
_MARGIN_PER_DOUBLING = 16.0
#: Crop corners snap to multiples of this (px): the flow pyramid (5 levels, 16 px blocks) and the model's U-Net
#: (stride 16) then pool the same pixel blocks on the crop as on the whole frame.
_CROP_ALIGN = 16
#: Smallest crop side (px, or the frame's side if smaller): Lucas-Kanade's default pyramid (motion up to 24 px) has
#: all its 5 levels from 128 px on, as on a large frame.
_CROP_MIN_SIDE = 128
#: What the cubic B-spline warp reads beyond the magnified motion (px): its 4 x 4 support and the decay of its
#: interpolation prefilter (|z| ** 8 = 3e-5, z = sqrt(3) - 2).
_WARP_SUPPORT = 8
#: Private switch: False computes every run on the whole frame (the tests and benchmarks/region_crop.py compare).
_CROP = True


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
    box: tuple[int, int, int, int]  # (y0, x0, y1, x1) px, half-open: where pass 1 computes (the whole frame: no crop)


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
    flow_options: dict | None = None,
    gate: bool = True,
    chunk_frames: int = 16,
    output=None,
    overwrite: bool = False,
    progress: Progress | bool | None = None,
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
        Test-time adaptation steps on this recording before magnifying (``"flowmag"``). Skipped, with a
        :class:`~vibmag.errors.VibmagWarning`, for a model whose learned correction is off at the confidence of 1
        magnify gives it (the shipped one: ``Magnifier.corrects_certain_flow``), where adaptation cannot change the
        frames; adapt such a model with :func:`vibmag.adapt` and magnify pairs with
        :func:`vibmag.magnification.magnify_frames`.
    transition : float
        Width of the alpha ramp at a region's edge, px (default 8).
    flow_method : str, optional
        Flow estimator for displacement-based methods (default vibmag's).
    flow_options : dict, optional
        Options of that estimator (:func:`vibmag.flow.get_estimator`), e.g.
        ``{"highpass": 4.0}`` so a lighting change is not magnified as motion
        (docs/flow.md).
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
    progress : callable, bool or None
        ``progress(done, total)`` after each chunk of each pass; or a bar on
        stderr: None shows one on a terminal, True always, False never (as
        :func:`vibmag.estimate_displacement`).
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
        ``method``, ``model``, ``reference``, ``adapt_steps``, ``vibmag_version``
        and ``crop``: the box ``[y0, x0, y1, x1]`` (px, half-open) that was
        computed, None for the whole frame. Outside it the frames are the
        input's, exactly.

    Notes
    -----
    Only the box where alpha differs from 1 (a region, or a per-pixel map's
    pixels other than 1) plus :data:`CROP_MARGIN` px of context is computed,
    aligned to 16 px and at least 128 px a side; displacement-based methods
    measure again on a larger box where the magnified motion needs one (more
    than 8 px of it). Inside the region the result matches a whole-frame
    computation to within 1e-3 in intensity on vibmag.synthetic scenes
    (tests/test_magnify_region_crop.py; ``"splat"``: all but 0.1 % of the
    samples, where its z-order flips). The gate is decided on the crop (its
    noise level and objects are the crop's), and ``motion_evidence`` is 0
    outside the crop: not measured there, and alpha is 1 there, so it would
    weight nothing.

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
    flow_options = _check_flow_options(method, flow_method, flow_options)
    plan = _make_plan(ds, alpha, band, region, reference, transition, chunk_frames, gate)
    _check_output(ds, plan, output, overwrite)
    if method == "flowmag" and model is None:
        model = load_model()
    adapt_steps = _effective_adapt_steps(method, model, adapt_steps)
    runner, identity = _runner(method, ds, plan, model=model, adapt_steps=adapt_steps, flow_method=flow_method,
                               flow_options=flow_options)
    passes = 2 if plan.band_hz or method in MEASURES_FLOW else 1
    with as_progress(progress, "magnification") as report, _FrameSink(ds, workdir) as sink:
        extra, computed = runner(ds, plan, sink, Ticker(report, cancel, total=plan.n_time * passes, what="magnification"),
                                 workdir)
        attrs = _provenance(ds, alpha, band, region, method, identity, plan, adapt_steps, computed)
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
    alpha_map = alpha_map.astype(np.float32)
    return _Plan(alpha_map, band_hz, rate, int(reference) % n_time, n_time, int(chunk_frames), bool(gate), _crop_box(alpha_map))


def _crop_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """Where a run computes: the box where alpha != 1, grown by :data:`CROP_MARGIN` px, aligned, at least 128 px a side.

    What reaches into the box from outside it sets the margin: the flow, whose
    Gaussian window (sigma 3 px) spans about 9 * 2**level px at each of its 5
    pyramid levels, so that a crop edge changes the flow inside a little, an
    error alpha magnifies with the motion (:func:`_margin_for`); the gate's
    region growth (4 px) and weight ramp (8 px, DEFAULT_TRANSITION); the model's
    U-Net (it sees about 90 px, yet given the same flow its output inside the
    region is the untiled whole frame's to 2e-5 from 16 px of margin on); the
    classical pyramids' 5-tap kernels (with as many levels as on the whole frame,
    within 6e-5 at 32 px). The alpha ramp lies inside the region (alpha is
    exactly 1 outside it) and reaches nothing out. The magnified motion is only
    known after pass 1: :func:`_box_for_motion` says where it needs more.

    Parameters
    ----------
    alpha : numpy.ndarray, shape (H, W)
        The per-pixel magnification, region and transition applied.

    Returns
    -------
    (y0, x0, y1, x1) : tuple of int
        Half-open box, px; the whole frame when the private switch ``_CROP``
        is off or alpha is 1 everywhere.
    """
    shape = alpha.shape
    changed = alpha != 1.0
    if not _CROP or not changed.any():
        return (0, 0, *shape)
    box, _ = region_bounds(changed, shape)
    return _aligned(_expand_box(box, CROP_MARGIN, shape), shape)


def _aligned(box: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``box`` (y0, x0, y1, x1) px grown to corners on multiples of :data:`_CROP_ALIGN` and sides of at least :data:`_CROP_MIN_SIDE`.

    Inside the frame of ``shape`` (H, W); a side the frame has no room for is the frame's.
    """
    (y0, y1), (x0, x1) = _span(box[0], box[2], shape[0]), _span(box[1], box[3], shape[1])
    return y0, x0, y1, x1


def _span(start: int, stop: int, size: int) -> tuple[int, int]:
    """``[start, stop)`` px on an axis of ``size`` px, its ends moved out to multiples of :data:`_CROP_ALIGN` (or the
    frame's end), then grown about its middle to at least :data:`_CROP_MIN_SIDE` px (or ``size``), inside ``[0, size)``."""
    step, side = _CROP_ALIGN, min(_CROP_MIN_SIDE, size)
    low, high = start // step * step, min(size, -(-stop // step) * step)
    low = max(0, low - max(0, side - (high - low)) // 2 // step * step)
    high = min(size, max(high, low + side))
    return min(low, max(0, (high - side) // step * step)), high


def _margin_for(reach: float) -> int:
    """The context (px) around the box where alpha != 1 that magnified motion of up to ``reach`` px needs.

    A crop's edge changes the flow inside it by a small fraction of the motion
    (on vibmag.synthetic plates about 1.5e-3 of it at 32 px from the edge,
    halving every 10 to 24 px farther in), and ``alpha - 1`` magnifies that
    error with the motion: the intensity error is about 7e-5 per px of
    magnified motion at 32 px. :data:`CROP_MARGIN` keeps it below 6e-4 up to
    :data:`_MARGIN_MOTION` px; each doubling beyond adds
    :data:`_MARGIN_PER_DOUBLING` px. The warp also reads (and the splat writes)
    ``reach`` plus :data:`_WARP_SUPPORT` px away.
    """
    grown = CROP_MARGIN + _MARGIN_PER_DOUBLING * np.log2(max(reach / _MARGIN_MOTION, 1.0))
    return int(np.ceil(max(grown, reach + _WARP_SUPPORT)))


def _box_for_motion(plan: _Plan, reach: float) -> tuple[int, int, int, int]:
    """The box the displacement-based methods need once pass 1 has measured the motion.

    Parameters
    ----------
    plan : _Plan
        Its ``box`` (where pass 1 measured) and ``alpha`` (H, W).
    reach : float
        The largest magnified displacement ``|(alpha - 1) B|`` where alpha != 1, px.

    Returns
    -------
    (y0, x0, y1, x1) : tuple of int
        ``plan.box`` where :data:`CROP_MARGIN` serves ``reach``; else its union
        with the box where alpha != 1 grown by :func:`_margin_for` (the whole
        frame for a non-finite ``reach``).
    """
    shape = plan.alpha.shape
    if not np.isfinite(reach):
        return (0, 0, *shape)
    margin = _margin_for(reach)
    if plan.box == (0, 0, *shape) or margin <= CROP_MARGIN:
        return plan.box
    core, _ = region_bounds(plan.alpha != 1.0, shape)
    grown = _aligned(_expand_box(core, margin, shape), shape)
    return (*(min(a, b) for a, b in zip(plan.box[:2], grown[:2])), *(max(a, b) for a, b in zip(plan.box[2:], grown[2:])))


def _cropped(ds: xr.Dataset, box: tuple[int, int, int, int]) -> xr.Dataset:
    """The recording's frames in ``box`` (y0, x0, y1, x1) px, lazily where they are lazy."""
    return ds[["frames"]].isel(y=slice(box[0], box[2]), x=slice(box[1], box[3]))


def _in_box(values: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The (..., h, w) part of (..., H, W) ``values`` in ``box`` (y0, x0, y1, x1) px (a view)."""
    return values[..., box[0] : box[2], box[1] : box[3]]


def _full_frame(values: np.ndarray, box: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """(h, w) values on ``box`` (y0, x0, y1, x1) px placed on a frame of ``shape`` (H, W), 0 around them."""
    out = np.zeros(shape, dtype=values.dtype)
    _in_box(out, box)[...] = values
    return out


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

    def write(self, start: int, frames: np.ndarray, box: tuple[int, int, int, int] | None = None) -> None:
        """Frames from ``start`` on, (n, h, w[, C]), of the box ``box`` (y0, x0, y1, x1) px (default the whole frame).

        Outside ``box`` each frame is the recording's own (float32), exactly.
        """
        if box is not None and tuple(box) != (0, 0, *self.shape[1:3]):
            whole = np.array(self.ds["frames"].isel(time=slice(start, start + frames.shape[0])).values, dtype=np.float32)
            whole[:, box[0] : box[2], box[1] : box[3]] = frames  # (n, H, W[, C]): not _in_box, channels come last
            frames = whole
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


def _check_flow_options(method: str, flow_method, flow_options) -> dict:
    """``flow_options`` as a dict (:func:`vibmag.flow.check_flow_options`); MagnifyError for a method that measures no flow."""
    if method not in MEASURES_FLOW and flow_options:
        raise MagnifyError(f"flow_options apply to the methods that measure displacement ({', '.join(MEASURES_FLOW)}); "
                           f"{method!r} measures none")
    return check_flow_options(flow_method, flow_options)


def flow_options_for(method: str, flow_options: dict | None) -> dict | None:
    """The estimator options a magnification by ``method`` takes: ``flow_options`` where it measures displacement
    (:data:`MEASURES_FLOW`), None for linear and phase (which :func:`magnify` refuses them for).

    For front ends whose one set of options also measures the recording (a report, a batch, the napari widgets)."""
    return flow_options if method in MEASURES_FLOW else None


# --- classical Eulerian methods ------------------------------------------------------------------


def _runner(method: str, ds, plan: _Plan, *, model, adapt_steps: int, flow_method, flow_options: dict):
    """The function running ``method``, and a string identifying what did the work (with the flow's options)."""
    if method not in MEASURES_FLOW:  # linear, phase
        # as many pyramid levels as the whole frame has, so a crop's bands are the whole frame's (to the edge effects)
        levels = max_levels(ds.sizes["y"], ds.sizes["x"])
        algorithm = LinearEulerian(levels) if method == "linear" else RieszPhase(levels)
        return (lambda *args: _run_classical(algorithm, *args)), repr(algorithm)
    estimator = get_estimator(flow_method, **flow_options)
    options = "".join(f", {key}={value!r}" for key, value in sorted(flow_options.items()))
    if method == "lagrangian":
        return ((lambda *args: _run_displacement(estimator, _lagrangian_step, *args)),
                f"lagrangian warp, flow {flow_method or 'default'}{options}")
    if method == "splat":
        return ((lambda *args: _run_displacement(estimator, _splat_step, *args)),
                f"forward splat, flow {flow_method or 'default'}{options}")
    model = _flowmag_model(model, ds, adapt_steps)
    step = _flowmag_step(model)
    return (lambda *args: _run_displacement(estimator, step, *args)), _model_identity(model, adapt_steps) + options


def _run_classical(algorithm, ds, plan: _Plan, sink: _FrameSink, ticker: Ticker, workdir) -> tuple[dict, tuple]:
    """Both passes of a classical magnifier on the plan's box, channel by channel; no extra variables, and that box."""
    ds = _cropped(ds, plan.box)
    alpha = torch.from_numpy(np.ascontiguousarray(_in_box(plan.alpha, plan.box)))
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
            sink.write(window.start, _to_numpy(out), plan.box)
            ticker.advance(window.stop - window.start)
    return {}, plan.box


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


def _run_displacement(estimator, step, ds, plan: _Plan, sink: _FrameSink, ticker: Ticker, workdir) -> tuple[dict, tuple]:
    """Pass 1: displacement of every frame on the plan's box (band-passed on disk), measured again on a larger box
    where the magnified motion needs one (:func:`_box_for_motion`); pass 2: ``step`` magnifies each chunk there.

    Returns the ``motion_evidence`` map (gate, on the whole frame, 0 outside the box) as an extra variable, and the box.
    """
    box = plan.box
    measured = _measure(estimator, ds, plan, box, ticker, workdir)
    try:
        needed = _box_for_motion(plan, float(measured.peak.max(initial=0.0)))
        if needed != box:  # measured again, so the progress total grows by one pass
            measured.store.close()
            ticker.total += plan.n_time
            box = needed
            measured = _measure(estimator, ds, plan, box, ticker, workdir)
        alpha = _in_box(plan.alpha, box)
        _warn_if_too_large(plan, measured.peak, (np.abs(alpha - 1.0) * measured.gate) > 0)
        _warn_if_nothing_magnified(plan, alpha, measured.gate)
        _magnify_chunks(step, _cropped(ds, box), plan, alpha, measured, sink, box, ticker)
    finally:
        measured.store.close()
    gate = _full_frame(measured.gate, box, plan.alpha.shape)
    return {"motion_evidence": (("y", "x"), gate, {"units": "1", "long_name": "weight of alpha - 1 (motion evidence)"})}, box


@dataclass
class _Measured:
    """What pass 1 leaves for pass 2 on one box of (h, w) px."""

    store: TemporalStore  # (time, 2 * h * w) displacement, px, x then y; band-passed where the plan has a band
    weights: np.ndarray  # (2, h, w) the gate of each component (x, y), in [0, 1]
    gate: np.ndarray  # (h, w) float32, the larger of the two: the weight of alpha - 1
    peak: np.ndarray  # (h, w) px, each pixel's largest magnified displacement (_peak_motion)


def _measure(estimator, ds: xr.Dataset, plan: _Plan, box: tuple[int, int, int, int], ticker: Ticker, workdir) -> _Measured:
    """Pass 1 on ``box`` (y0, x0, y1, x1) px: every frame's displacement on disk, its gate, band-pass and peak.

    Returns
    -------
    _Measured
        On the box's (h, w) grid; the caller closes its store.
    """
    height, width = box[2] - box[0], box[3] - box[1]
    store = TemporalStore(plan.n_time, 2 * height * width, directory=workdir)
    try:
        evidence = _track(estimator, _cropped(ds, box), plan, store, ticker)
        weights = evidence.component_weights(transition=DEFAULT_TRANSITION) if plan.gate else np.ones((2, height, width))
        if plan.band_hz is not None:
            store.filter(_band_filter(plan), cancel=ticker.cancel)
        alpha = _in_box(plan.alpha, box)
        return _Measured(store, weights, weights.max(axis=0).astype(np.float32), _peak_motion(plan, alpha, store, weights))
    except BaseException:
        store.close()
        raise


def _track(estimator, ds: xr.Dataset, plan: _Plan, store: TemporalStore, ticker: Ticker) -> MotionEvidence:
    """Every frame's displacement (n, 2, h, w) px into ``store``, and the evidence that it is real.

    Parameters
    ----------
    ds : xarray.Dataset
        The frames (time, h, w[, channel]) measured: the recording, or its crop.

    Returns
    -------
    MotionEvidence
        Accumulated over all frames, on the (h, w) grid of ``ds``, from the
        luminance the estimator compared (its ``fit_luminance`` where it has one).
    """
    reference = _frames(ds, slice(plan.reference, plan.reference + 1))
    luminance = getattr(estimator, "fit_luminance", to_luminance)  # the images the estimator compared
    evidence = MotionEvidence(luminance(reference))
    for part in iter_displacement(ds, estimator, _to_numpy(reference)[0], chunk_frames=plan.chunk_frames,
                                  cancel=ticker.cancel):
        with torch.no_grad():
            evidence.add(luminance(part.frames), part.flow)
        store.write(part.window.start, part.flow.reshape(part.flow.shape[0], -1).numpy())
        ticker.advance(part.window.stop - part.window.start)
    return evidence


def _magnify_chunks(step, ds: xr.Dataset, plan: _Plan, alpha: np.ndarray, measured: _Measured, sink: _FrameSink,
                    box: tuple[int, int, int, int], ticker: Ticker) -> None:
    """Pass 2: ``step`` on each chunk of the frames of ``ds`` (the recording's crop to ``box``), written to ``sink``.

    ``alpha`` (h, w) is the plan's on the box; each displacement component is magnified by
    ``1 + (alpha - 1) * its own weight``: alpha carries the gate (the larger weight), the share the rest.
    """
    height, width = alpha.shape
    weights, gate = measured.weights, measured.gate
    share = torch.from_numpy(np.divide(weights, gate, out=np.zeros_like(weights), where=gate > 0).astype(np.float32))[None]
    gated = torch.from_numpy(1.0 + (alpha - 1.0) * gate)[None, None]
    reference = _frames(ds, slice(plan.reference, plan.reference + 1))
    batch = batch_frames_for(height, width)  # frames per step call: keeps its intermediates small
    for window in _chunks(plan):
        frames = _frames(ds, window)
        selected = torch.from_numpy(measured.store.read(window.start, window.stop)).view(-1, 2, height, width) * share
        with torch.no_grad():
            out = torch.cat([step(reference, frames[i:i + batch], selected[i:i + batch], gated)
                             for i in range(0, frames.shape[0], batch)])
        sink.write(window.start, _to_numpy(out), box)
        ticker.advance(window.stop - window.start)


def _peak_motion(plan: _Plan, alpha: np.ndarray, store: TemporalStore, weights: np.ndarray) -> np.ndarray:
    """Each pixel's largest magnified displacement over the recording, (h, w) px.

    Parameters
    ----------
    alpha : numpy.ndarray, shape (h, w)
        Magnification on the store's grid.
    store : TemporalStore
        The (band-passed) displacement, (time, 2 * h * w) px, x then y.
    weights : numpy.ndarray, shape (2, h, w)
        The gate of each displacement component (x, y), so only the motion that will be magnified counts.

    Returns
    -------
    numpy.ndarray, shape (h, w)
        ``max_t |(alpha - 1) * weights * B_t|``, px (0 where alpha is 1).
    """
    peak = np.zeros(alpha.shape)
    change = np.abs(alpha - 1.0)
    for window in _chunks(plan):
        flow = store.read(window.start, window.stop).reshape(-1, 2, *alpha.shape)
        applied = np.hypot(flow[:, 0] * weights[0], flow[:, 1] * weights[1]) * change
        peak = np.fmax(peak, np.nanmax(applied, axis=0, initial=0.0))
    return peak


def _warn_if_too_large(plan: _Plan, peak: np.ndarray, magnified: np.ndarray) -> None:
    """VibmagWarning (after pass 1, before pass 2) where alpha times the measured motion exceeds a quarter of the frame.

    The measured motion is typical, not extreme: the median, over the pixels alpha magnifies (``magnified``, bool),
    of each pixel's largest magnified displacement ``peak`` (px; both on the computed box's grid), so a few
    ill-measured pixels at edges or in untextured areas do not warn. The frame is the whole recording's.
    """
    magnified_pixels = peak[magnified]
    typical = float(np.median(magnified_pixels)) if magnified_pixels.size else 0.0
    limit = min(plan.alpha.shape) / 4
    if typical > limit:
        warnings.warn(
            f"alpha {float(plan.alpha.max()):g} times the measured motion moves the image by {typical:.3g} px (median over the "
            f"magnified pixels of each one's largest motion), more than a "
            f"quarter of the frame ({limit:g} px); the magnified frames will be mostly artefacts: lower alpha, or pick a band",
            VibmagWarning, stacklevel=4,
        )


def _warn_if_nothing_magnified(plan: _Plan, alpha: np.ndarray, gate: np.ndarray) -> None:
    """VibmagWarning (after pass 1) where the motion-evidence gate is 0 wherever alpha differs from 1 (both (h, w)):
    the result would be the recording itself, and without a word that is indistinguishable from a failure."""
    asked = alpha != 1.0
    if plan.gate and asked.any() and not gate[asked].any():
        warnings.warn(
            f"the motion-evidence gate confirmed no motion where alpha applies, so nothing is magnified: the "
            f"{plan.n_time} frames' changes are within their noise there. Use more frames, a band around a measured "
            f"peak, or gate=False (which magnifies the noise too)",
            VibmagWarning, stacklevel=4,
        )


def _lagrangian_step(reference, frames, selected, alpha) -> torch.Tensor:
    """J(q) = I_t(q - (alpha - 1) * B(q)): the band motion made alpha times as large."""
    return warp(frames, -(alpha - 1.0) * selected)


def _splat_step(reference, frames, selected, alpha) -> torch.Tensor:
    """I_t forward-splatted by (alpha - 1) * B, the larger motion in front; what it uncovers from the Lagrangian warp."""
    return splat_warp(frames, (alpha - 1.0) * selected)


def _effective_adapt_steps(method: str, model, adapt_steps: int) -> int:
    """``adapt_steps``, or 0 with a warning where test-time adaptation cannot change what :func:`magnify` renders.

    ``magnify`` gives the model the displacement with a confidence of 1; a model whose learned correction scales
    with the flow's predicted noise (the shipped one: :attr:`vibmag.Magnifier.corrects_certain_flow` False) then
    renders the splat of that displacement whatever its weights, so adapting it would only cost time.
    """
    if not adapt_steps or method != "flowmag" or model.corrects_certain_flow:
        return adapt_steps
    warnings.warn(f"adapt_steps={adapt_steps} ignored: magnify gives the model the displacement with a confidence of 1, "
                  "where this model's learned correction is off, so test-time adaptation cannot change its output; "
                  "adapt it with vibmag.adapt and magnify pairs with vibmag.magnification.magnify_frames "
                  "(docs/model_card.md)", VibmagWarning, stacklevel=3)
    return 0


def _flowmag_model(model, ds, adapt_steps: int):
    """The Magnifier to use (resolved by :func:`magnify`), test-time adapted if asked."""
    if adapt_steps:
        model = adapt(model, ds, steps=int(adapt_steps), progress=False)  # magnify reports its own progress
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


def _provenance(ds, alpha, band, region, method, identity, plan: _Plan, adapt_steps, computed: tuple) -> dict:
    """Attrs recording what was done, as plain values (JSON-able); ``computed`` is the (y0, x0, y1, x1) box computed, px."""
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
        "crop": None if tuple(computed) == (0, 0, *plan.alpha.shape) else [int(v) for v in computed],
    }


def _describe_region(region):
    """A region as JSON-able provenance: the box or polygon, or 'mask'."""
    if region is None:
        return None
    values = np.asarray(region.values if isinstance(region, xr.DataArray) else region)
    if values.dtype == bool or values.ndim != 2 or values.shape[1] != 2:
        return values.tolist() if values.ndim == 1 else "mask"
    return values.tolist()
