"""Labelled displacement of a whole recording: :func:`estimate_displacement` (API.md).

The recording is streamed in chunks of frames (only one chunk is in memory at
a time), every frame is measured against one reference frame, and the result
is a labelled :class:`xarray.DataArray` on the recording's own grid.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
import xarray as xr

from ..analysis.regions import region_bounds
from ..errors import OptionValueError, RecordingError
from ..progress import Progress, as_progress, check_cancel
from ..recording import iter_frame_chunks
from .estimators import DEFAULT_METHOD, get_estimator
from .lk import LEVEL_PIXELS

__all__ = ["estimate_displacement", "iter_displacement", "DisplacementChunk", "frames_tensor", "DEFAULT_MARGIN",
           "supports_uncertainty", "BATCH_PIXELS", "batch_frames_for", "CALL_PIXELS", "call_frames_for"]

#: Pixels of context measured around a region's bounding box (then discarded).
DEFAULT_MARGIN = 32
#: Options :func:`estimate_displacement` gives the default Lucas-Kanade unless told otherwise: measurement
#: removes the interpolation bias (vibmag.flow.bias), which the estimator alone leaves in.
MEASUREMENT_DEFAULTS = {"bias_correction": True}

#: Pixels of one full-resolution step (:func:`batch_frames_for`): the magnifier's pass 2 and the motion evidence.
#: Eager PyTorch allocates every intermediate anew, and glibc maps blocks above its mmap threshold (at most
#: 32 MiB) afresh, a page fault per 4 KiB; batches of about half a million pixels keep the intermediates below it
#: and use both cores: the budget by which Lucas-Kanade groups each pyramid level (:data:`vibmag.flow.lk.LEVEL_PIXELS`).
#: Measured with estimate_displacement on vibmag.synthetic plates (2-core box), before that grouping: 512x512 at
#: 41-45 frames/s in batches of 2, 34 one at a time, 24-29 in batches of 16.
BATCH_PIXELS = LEVEL_PIXELS

#: Pixels of one estimator call by default (:func:`call_frames_for`). Lucas-Kanade fits its finest level in
#: groups of :data:`BATCH_PIXELS` and its coarse levels, where dispatch outweighs arithmetic, in as many
#: frames as fit: calls of 16 frames of 512x512 ran 1.26x faster than calls of 2 (bit-identical results).
CALL_PIXELS = 2**22


def batch_frames_for(height: int, width: int) -> int:
    """Frames of (height, width) px in one full-resolution step: as many as fit in :data:`BATCH_PIXELS`, at least 1."""
    return _frames_within(BATCH_PIXELS, height, width)


def call_frames_for(height: int, width: int) -> int:
    """Frames of (height, width) px measured in one estimator call by default: :data:`CALL_PIXELS`' worth, at least 1."""
    return _frames_within(CALL_PIXELS, height, width)


def _frames_within(pixels: int, height: int, width: int) -> int:
    """How many frames of (height, width) px fit in ``pixels`` px, at least 1."""
    return max(1, pixels // max(1, height * width))


def estimate_displacement(
    ds: xr.Dataset,
    *,
    reference: int | str = 0,
    method=None,
    region=None,
    chunk_frames: int = 32,
    batch_frames: int | None = None,
    progress=None,
    cancel: threading.Event | None = None,
    return_confidence: bool = False,
    return_uncertainty: bool | tuple = False,
    margin: int = DEFAULT_MARGIN,
    device=None,
    **options,
) -> xr.DataArray | xr.Dataset:
    """Dense displacement of every frame of a recording relative to a reference frame.

    Parameters
    ----------
    ds : xarray.Dataset
        A recording (``vibmag.open_recording`` layout): ``frames`` with dims
        ``("time", "y", "x")``, or ``("time", "y", "x", "channel")`` for colour
        (reduced to BT.601 luminance by the estimator).
    reference : int or "mean"
        Index of the reference frame (negative counts from the end), or
        ``"mean"`` for the temporal mean frame (less noisy, but blurred where
        the motion is large).
    method : str, torch.nn.Module or None
        A name from :func:`vibmag.flow.available_methods` (default
        ``"lucas-kanade"``), or an estimator module called as
        ``method(ref, moving)`` on (N, C, H, W) tensors.
    region : mask, polygon or box, optional
        Where displacement is wanted, as :func:`vibmag.region_mask`: a box
        ``(y0, x0, y1, x1)``, half-open like ``frames[y0:y1, x0:x1]``, a
        polygon of (y, x) vertices, or a (y, x) mask. Only the bounding box
        plus ``margin`` px of context is read and measured; pixels outside the
        region are NaN ("not measured", unlike a measured 0).
    chunk_frames : int
        Frames read and held in memory at a time.
    batch_frames : int or None
        Frames measured in one estimator call (at most ``chunk_frames``;
        default :func:`call_frames_for` the frame size, about four million
        pixels). Results do not depend on it (Lucas-Kanade: bit for bit).
    progress : callable, bool or None
        ``progress(done, total)`` in frames; or a bar on stderr: None shows one
        only on a terminal and only once the run has taken 2 s; True always;
        False never.
    cancel : threading.Event, optional
        Set it from another thread to stop with :class:`vibmag.errors.CancelledError`.
    return_confidence : bool
        Also return the per-pixel confidence in [0, 1] (see below).
    return_uncertainty : bool or tuple of str
        Also return the 1-sigma uncertainty of every displacement sample and
        its parts (see below; estimators with ``track_with_error_parts`` only,
        i.e. Lucas-Kanade); a tuple of their names (``"uncertainty"``,
        ``"noise"``, ``"model_error"``) returns only those, and only those are
        held in memory (each as large as the displacement).
    margin : int
        Context (px) around a region's bounding box.
    device : torch device, optional
        Where to compute (default CPU).
    **options
        Passed to the estimator named by ``method`` (e.g. ``window=4.0``; see
        :func:`vibmag.flow.lucas_kanade`). For the default Lucas-Kanade,
        ``bias_correction`` is True unless given: the interpolation bias of
        sub-pixel shifts is calibrated on the reference and removed
        (:mod:`vibmag.flow.bias`; docs/flow.md).

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        ``displacement``: float32, dims ``("time", "component", "y", "x")``,
        ``component`` = ``["x", "y"]``, units ``"px"``, the recording's
        ``time``, ``y`` and ``x`` coordinates; attrs ``reference``, ``method``,
        ``method_options`` (JSON), and ``frame_rate`` and ``pixel_size`` where the
        recording has them (so ``vibmag.to_physical`` can convert to mm).
        With ``return_confidence=True``: a Dataset holding ``displacement`` and
        ``confidence`` (float32, dims ``("time", "y", "x")``, units ``"1"``;
        0.5 where the predicted error is ``tolerance`` px, 0.05 by default).
        With ``return_uncertainty=True``: a Dataset holding ``displacement``
        and ``uncertainty`` (float32, dims ``("time", "component", "y", "x")``
        like the displacement, units ``"px"``): the predicted standard
        deviation of each component's error, from the reference's structure
        tensor and the fit's residual (noise estimated from the residual of
        each frame, so it varies in time), per pixel. Large along a uniform
        edge, in the edge's direction (the aperture problem); 0 at the
        reference frame itself. Two of its parts are also given (same layout):
        ``noise``, the noise that changes from frame to frame (white: what a
        spectrum's noise floor, an SNR or a deflection shape's significance
        needs; the rest of the noise is the reference frame's own, the same
        offset in every frame, half of the noise variance for a one-frame
        reference), and ``model_error`` (signed: displacement minus truth),
        the estimated error of taking the motion as constant over the
        estimator's window, which follows the motion (a gain error of a
        curved mode shape, at the mode's own frequency; see
        :func:`vibmag.analysis.systematic_spectrum`). ``uncertainty`` also
        holds a third part, not given on its own: the error of a window that
        straddles two motions (object outlines, occlusions), read from the
        fit's residual energy where it stands above the frame's typical level;
        zero on smooth motion. ``vibmag.to_physical``
        converts all three to mm with the displacement. See docs/flow.md for
        their calibration.

    Convention
    ----------
    ``displacement[t, :, y, x]`` is how far (x then y, px) the material point
    seen at pixel (y, x) in the reference frame has moved in frame t: the flow
    from the reference to frame t, ``frame_t(p + d(p)) = reference(p)``,
    sampled on the reference frame's pixels.

    Examples
    --------
    >>> import vibmag
    >>> from vibmag.synthetic import Mode, vibrating_plate
    >>> ds = vibrating_plate((64, 64), n_frames=4, modes=[Mode("250 Hz", 0.2, direction=90)])
    >>> disp = vibmag.estimate_displacement(ds)
    >>> disp.dims, disp.attrs["units"]
    (('time', 'component', 'y', 'x'), 'px')
    >>> err = (disp - ds["true_displacement"]).isel(y=slice(8, -8), x=slice(8, -8))
    >>> bool(abs(err).max() < 0.01)
    True
    """
    frames = _frames_of(ds)
    if not isinstance(chunk_frames, Integral) or chunk_frames < 1:
        raise OptionValueError(f"chunk_frames must be a positive integer, got {chunk_frames!r}")
    if batch_frames is not None and (not isinstance(batch_frames, Integral) or batch_frames < 1):
        raise OptionValueError(f"batch_frames must be a positive integer, got {batch_frames!r}")
    if not isinstance(margin, Integral) or margin < 0:
        raise OptionValueError(f"margin must be a non-negative integer (px), got {margin!r}")
    n_time, height, width = (frames.sizes[d] for d in ("time", "y", "x"))
    box, inside = region_bounds(region, (height, width))
    work = _expand_box(box, margin, (height, width))
    if method is None or method == DEFAULT_METHOD:
        options = {**MEASUREMENT_DEFAULTS, **options}
    estimator, method_name = _resolve_estimator(method, options)

    crop = ds[["frames"]].isel(y=slice(work[0], work[2]), x=slice(work[1], work[3]))
    keep = (slice(box[0] - work[0], box[2] - work[0]), slice(box[1] - work[1], box[3] - work[1]))
    displacement = np.full((n_time, 2, height, width), np.nan, dtype=np.float32)
    confidence = np.full((n_time, height, width), np.nan, dtype=np.float32) if return_confidence else None
    errors = {name: np.full((n_time, 2, height, width), np.nan, dtype=np.float32)
              for name in _error_fields(return_uncertainty)}

    reference_frame = _reference_frame(crop, reference, chunk_frames)
    with as_progress(progress, "displacement") as report:
        for part in iter_displacement(crop, estimator, reference_frame, chunk_frames=chunk_frames,
                                      batch_frames=batch_frames, device=device,
                                      return_confidence=return_confidence, return_uncertainty=bool(errors),
                                      reference_frames=n_time if isinstance(reference, str) else 1,
                                      progress=report, cancel=cancel):
            t = part.window
            displacement[t, :, box[0] : box[2], box[1] : box[3]] = part.flow[:, :, keep[0], keep[1]].cpu().numpy()
            if confidence is not None:
                confidence[t, box[0] : box[2], box[1] : box[3]] = part.confidence[:, 0][:, keep[0], keep[1]].cpu().numpy()
            for name, values in errors.items():
                values[t, :, box[0] : box[2], box[1] : box[3]] = getattr(part, name)[:, :, keep[0], keep[1]].cpu().numpy()

    displacement[:, :, ~inside] = np.nan
    if confidence is not None:
        confidence[:, ~inside] = np.nan
    for values in errors.values():
        values[:, :, ~inside] = np.nan
    result = _label(displacement, frames, ds.attrs, reference, method_name, options)
    if confidence is None and not errors:
        return result
    out = {"displacement": result}
    if confidence is not None:
        out["confidence"] = xr.DataArray(
            confidence,
            dims=("time", "y", "x"),
            coords={name: result.coords[name] for name in ("time", "y", "x")},
            attrs={"units": "1", "long_name": "displacement confidence"},
            name="confidence",
        )
    for name, values in errors.items():
        out[name] = result.copy(data=values).rename(name).assign_attrs(units="px", long_name=_ERROR_FIELDS[name])
    return xr.Dataset(out, attrs=dict(result.attrs))


#: The error fields of ``estimate_displacement(..., return_uncertainty=True)`` and their long names.
_ERROR_FIELDS = {"uncertainty": "displacement uncertainty (1 sigma)",
                 "noise": "displacement noise, frame to frame (1 sigma)",
                 "model_error": "estimated motion-model error (displacement minus truth)"}


def _error_fields(return_uncertainty) -> tuple:
    """The names of the error fields ``return_uncertainty`` asks for (all for True, none for False)."""
    if isinstance(return_uncertainty, bool):
        return tuple(_ERROR_FIELDS) if return_uncertainty else ()
    names = (return_uncertainty,) if isinstance(return_uncertainty, str) else tuple(return_uncertainty)
    unknown = [name for name in names if name not in _ERROR_FIELDS]
    if unknown or not names:
        raise OptionValueError(f"return_uncertainty must be True, False or some of {', '.join(map(repr, _ERROR_FIELDS))}, "
                               f"got {return_uncertainty!r}")
    return tuple(name for name in _ERROR_FIELDS if name in names)


@dataclass(frozen=True)
class DisplacementChunk:
    """One chunk of frames and its displacement against the reference, as :func:`iter_displacement` yields it."""

    window: slice  # frames [start, stop) of the recording
    frames: torch.Tensor  # (n, C, H, W) float32 intensities
    flow: torch.Tensor  # (n, 2, H, W) px, x first
    confidence: torch.Tensor | None  # (n, 1, H, W) in [0, 1], or None
    uncertainty: torch.Tensor | None = None  # (n, 2, H, W) px, 1-sigma of x and y, or None
    noise: torch.Tensor | None = None  # (n, 2, H, W) px, 1-sigma of the noise that changes frame to frame, or None
    model_error: torch.Tensor | None = None  # (n, 2, H, W) px, the estimated motion-model error (signed), or None


def iter_displacement(
    ds: xr.Dataset,
    estimator,
    reference: np.ndarray,
    *,
    chunk_frames: int = 32,
    batch_frames: int | None = None,
    return_confidence: bool = False,
    return_uncertainty: bool = False,
    reference_frames: int = 1,
    device=None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[DisplacementChunk]:
    """The one displacement loop: every frame of a recording against one reference, prepared once.

    :func:`estimate_displacement`, :func:`vibmag.magnify`, the napari plugin
    and the batch runner all measure through it.

    Parameters
    ----------
    ds : xarray.Dataset
        A recording (or a crop of one), ``frames`` (time, y, x[, channel]).
    estimator : torch.nn.Module or callable
        Called ``estimator(ref, moving)`` on (N, C, H, W) tensors; if it has
        ``prepare``/``track`` (Lucas-Kanade), the reference is prepared once.
    reference : numpy.ndarray, shape (y, x) or (y, x, channel)
        The reference frame, float32 intensities.
    chunk_frames : int
        Frames read at a time (one yielded chunk).
    batch_frames : int or None
        Frames measured in one estimator call (default: :func:`call_frames_for` the frame size).
    return_confidence : bool
        Also give the per-pixel confidence.
    return_uncertainty : bool
        Also give the per-pixel, per-component 1-sigma uncertainty (px), its
        noise part and the estimated motion-model error; the estimator needs
        ``prepare`` and ``track_with_error_parts``.
    reference_frames : int
        How many frames ``reference`` averages (1 for one frame): its share of
        the noise, which the ``noise`` of the chunks leaves out.
    device : torch device, optional
        Where to compute (default CPU).
    progress : callable, optional
        ``progress(done, total)`` in frames, after each chunk.
    cancel : threading.Event, optional
        Checked before each chunk; :class:`vibmag.errors.CancelledError` when set.

    Yields
    ------
    DisplacementChunk
        In time order, computed without gradients.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    tracker = _Tracker(estimator, frames_tensor(reference[None], device), return_confidence, return_uncertainty,
                       reference_frames)
    n_time = ds.sizes["time"]
    if batch_frames is None:
        batch_frames = call_frames_for(ds.sizes["y"], ds.sizes["x"])
    for window, chunk in iter_frame_chunks(ds, chunk_frames):
        check_cancel(cancel, "displacement")
        frames = frames_tensor(chunk, device)
        with torch.no_grad():
            parts = [tracker(frames[i : i + batch_frames]) for i in range(0, frames.shape[0], batch_frames)]
        flow, confidence, *errors = (None if p[0] is None else torch.cat(p) for p in zip(*parts))
        yield DisplacementChunk(window, frames, flow, confidence, *errors)
        if progress is not None:
            progress(window.stop, n_time)


class _Tracker:
    """Measures frames against one reference, preparing it once where the estimator can."""

    def __init__(self, estimator, ref: torch.Tensor, return_confidence: bool, return_uncertainty: bool = False,
                 reference_frames: int = 1):
        self.estimator = estimator
        self.frame_share = reference_frames / (reference_frames + 1.0)
        self.ref = ref
        self.return_confidence = return_confidence
        self.return_uncertainty = return_uncertainty
        self.prepared = estimator.prepare(ref) if hasattr(estimator, "prepare") else None
        if return_uncertainty and (self.prepared is None or not hasattr(estimator, "track_with_error_parts")):
            raise OptionValueError(f"return_uncertainty needs an estimator with prepare and track_with_error_parts "
                             f"(Lucas-Kanade); {type(estimator).__name__} has none")

    def __call__(self, moving: torch.Tensor):
        """``(flow, confidence, uncertainty, noise, model_error)`` of a batch of frames, None for what is not asked.

        ``uncertainty`` (n, 2, H, W) is the 1-sigma of x and y: both frames'
        noise, the motion-model error ``model_error`` (signed) and the
        motion-edge error (a window straddling two motions) in quadrature.
        ``noise`` is the moving frame's share of the noise, the part that
        changes from frame to frame: the estimator weighs both
        frames' noise alike, and a reference averaged over K frames holds
        1/K of one frame's noise variance, so the moving frame holds
        K / (K + 1) of the total.
        """
        if self.return_uncertainty:
            flow, confidence, covariance, model_error, edge = self.estimator.track_with_error_parts(self.prepared,
                                                                                                   moving)
            variance = covariance[:, 0::2].clamp_min(0.0)  # channels xx, yy
            return (flow, confidence, (variance + model_error**2 + edge).sqrt(), (self.frame_share * variance).sqrt(),
                    model_error)
        if self.prepared is not None:
            if self.return_confidence:
                return (*self.estimator.track_with_confidence(self.prepared, moving), None, None, None)
            return self.estimator.track(self.prepared, moving), None, None, None, None
        if self.return_confidence:
            flow, confidence = self.estimator(self.ref, moving, return_confidence=True)
            return flow, confidence, None, None, None
        return self.estimator(self.ref, moving), None, None, None, None


def supports_uncertainty(method=None, **options) -> bool:
    """Whether ``estimate_displacement(..., method=method, return_uncertainty=True)`` works (a name or a module)."""
    estimator, _ = _resolve_estimator(method, options)
    return hasattr(estimator, "prepare") and hasattr(estimator, "track_with_error_parts")


def _frames_of(ds) -> xr.DataArray:
    """The ``frames`` variable of a recording, checked for dims."""
    if not isinstance(ds, xr.Dataset) or "frames" not in ds:
        raise RecordingError("estimate_displacement needs a recording Dataset with a 'frames' variable")
    frames = ds["frames"]
    if frames.dims[:3] != ("time", "y", "x") or frames.ndim not in (3, 4):
        raise RecordingError(
            f"frames must have dims ('time', 'y', 'x') or ('time', 'y', 'x', 'channel'), got {frames.dims}"
        )
    return frames


def _expand_box(box, margin: int, shape: tuple[int, int]):
    """The box grown by ``margin`` on every side, clipped to the frame."""
    y0, x0, y1, x1 = box
    return max(0, y0 - margin), max(0, x0 - margin), min(shape[0], y1 + margin), min(shape[1], x1 + margin)


def _resolve_estimator(method, options):
    """``(estimator module, method name)`` from a name, None, or a module."""
    if method is None or isinstance(method, str):
        name = DEFAULT_METHOD if method is None else method
        return get_estimator(name, **options), name
    if options:
        raise OptionValueError(f"options {sorted(options)} apply to named methods only, not to an estimator object")
    if not callable(method):
        raise OptionValueError(f"method must be a name, None, or a callable estimator, got {method!r}")
    return method, type(method).__name__


def _reference_frame(crop: xr.Dataset, reference, chunk_frames: int) -> np.ndarray:
    """The reference frame, (y, x) or (y, x, channel) float32: one frame, or the mean streamed over chunks."""
    n_time = crop.sizes["time"]
    if isinstance(reference, str):
        if reference != "mean":
            raise OptionValueError(f"reference must be a frame index or 'mean', got {reference!r}")
        total = None
        for _, chunk in iter_frame_chunks(crop, chunk_frames):
            part = chunk.sum(axis=0, dtype=np.float64)
            total = part if total is None else total + part
        return (total / n_time).astype(np.float32)
    if not isinstance(reference, Integral) or isinstance(reference, bool):
        raise OptionValueError(f"reference must be a frame index or 'mean', got {reference!r}")
    if not -n_time <= reference < n_time:
        raise OptionValueError(f"reference index {reference} is out of range for {n_time} frames")
    return np.asarray(crop["frames"].isel(time=int(reference)).values, dtype=np.float32)


def frames_tensor(frames: np.ndarray, device=None) -> torch.Tensor:
    """(n, y, x) or (n, y, x, channel) NumPy -> (n, C, y, x) float32 tensor."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames))
    tensor = tensor.unsqueeze(1) if tensor.dim() == 3 else tensor.permute(0, 3, 1, 2)
    return tensor.to(device=device, dtype=torch.float32).contiguous()


def _label(displacement: np.ndarray, frames: xr.DataArray, attrs: dict, reference, method_name: str, options: dict):
    """Wrap (time, 2, y, x) px values as the labelled ``displacement`` DataArray."""
    out_attrs = {
        "units": "px",
        "long_name": "displacement",
        "reference": reference if isinstance(reference, str) else int(reference) % frames.sizes["time"],
        "method": method_name,
        "method_options": json.dumps({k: _jsonable(v) for k, v in sorted(options.items())}),
    }
    for key in ("frame_rate", "pixel_size"):
        if attrs.get(key) not in (None, ""):
            out_attrs[key] = attrs[key]
    coords = {name: frames.coords[name] for name in ("time", "y", "x")}
    coords["component"] = ("component", ["x", "y"])
    return xr.DataArray(
        displacement, dims=("time", "component", "y", "x"), coords=coords, attrs=out_attrs, name="displacement"
    )


def _jsonable(value):
    """Options as JSON-friendly values (tuples to lists, non-finite floats to strings)."""
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
