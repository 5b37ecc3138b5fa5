"""Loading the shipped magnifier and running it on frame pairs and batches.

* :func:`load_model` reads a weights file (default: the one shipped in
  ``vibmag/models/``) with ``torch.load(weights_only=True)``; a file that is
  corrupt or not a vibmag magnifier raises :class:`ModelFileError` naming it.
* :func:`magnify_pair` / :func:`magnify_frames` magnify one frame or a batch
  against a reference, at any frame size (reflection padding to the U-Net's
  stride, overlapping tiles for large frames), float32 on CPU (or the model's
  device). Alpha beyond the model's trained range is reached by applying it
  ``k`` times with ``alpha ** (1 / k)``, as the paper's inference does.
* :func:`alpha_map` turns a region (mask, polygon, box) into a per-pixel
  alpha map with a smooth transition, exactly 1 outside the region.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import math
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .. import flow as vflow
from ..analysis import region_mask
from ..errors import OptionValueError, VibmagError
from ..flow.filters import to_luminance
from ..flow.outlines import sharpen_outlines
from ..progress import as_progress
from .alpha import DEFAULT_TRANSITION, with_region
from .gate import pair_gate
from .losses import flow_and_confidence, freeze
from .model import RESAMPLINGS, Magnifier, expand_alpha

__all__ = [
    "ModelFileError",
    "WEIGHTS_FORMAT",
    "default_weights_path",
    "load_model",
    "resolve_flow",
    "magnify_pair",
    "magnify_frames",
    "alpha_map",
    "DEFAULT_TRANSITION",
]

WEIGHTS_FORMAT = "vibmag-magnifier-weights"
WEIGHTS_FILE = "flowmag.pt"
_TILE = 512  # tile side for frames larger than this (px)
_OVERLAP = 32  # overlap of neighbouring tiles (px), blended linearly


class ModelFileError(VibmagError, ValueError):
    """A weights or checkpoint file is corrupt, foreign, or does not fit the model."""


def default_weights_path() -> Path:
    """Path of the weights shipped in the package (``vibmag/models/flowmag.pt``)."""
    return Path(str(importlib.resources.files("vibmag") / "models" / WEIGHTS_FILE))


def load_model(path=None, *, device="cpu", resampling: str = "bspline") -> Magnifier:
    """Load a :class:`Magnifier` from a weights file (default: the shipped one), in eval mode.

    Works offline: the default weights ship inside the package. The file's
    metadata (training command, steps, ...) is kept as ``model.metadata``.
    ``resampling`` sets how the model's warp samples the frame
    (:class:`Magnifier`): cubic B-spline by default, whatever the weights
    were trained with (the network's outputs do not depend on it), or
    ``"bilinear"`` as in training.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is corrupt, is not a vibmag magnifier weights file, or its
        tensors do not fit the architecture it names.
    vibmag.errors.OptionValueError
        If ``resampling`` is not one of ``"bspline"``, ``"bilinear"``.

    Examples
    --------
    >>> import vibmag
    >>> model = vibmag.load_model()
    >>> model.variant, model.training
    ('flow', False)
    >>> sorted(model.metadata)[:2]
    ['command', 'n_params']
    """
    if resampling not in RESAMPLINGS:
        raise OptionValueError(f"resampling must be one of {', '.join(RESAMPLINGS)}, got {resampling!r}")
    path = Path(path) if path is not None else default_weights_path()
    if not path.exists():
        raise FileNotFoundError(f"no magnifier weights at {path}")
    state = load_tensors(path, what="magnifier weights file")
    if not isinstance(state, dict) or state.get("format") != WEIGHTS_FORMAT:
        raise ModelFileError(f"{path} is not a vibmag magnifier weights file (format {WEIGHTS_FORMAT!r} expected)")
    try:
        model = Magnifier(**{**json.loads(state["model_config"]), "resampling": resampling})
        model.load_state_dict(state["state_dict"])
        metadata = json.loads(state.get("metadata", "{}"))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} does not hold a valid magnifier: {exc}") from exc
    model.metadata = metadata
    model.net.to(memory_format=torch.channels_last)  # with channels-last inputs in eval mode (Magnifier.predict)
    return model.to(device).eval()


def load_tensors(path, *, what: str, device="cpu"):
    """``torch.load(path, weights_only=True)`` with vibmag's own refusal.

    Nothing but tensors and plain containers is ever unpickled. A file holding
    other pickled objects (which could run code when loaded), or no torch
    file at all, raises :class:`ModelFileError` naming the file, without
    torch's hint that ``weights_only=False`` "will likely succeed" and
    without the warnings torch emits while it refuses (e.g. about a raw
    pickle's protocol), so nothing leaks to the user but the one message.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's UserWarnings about the refused pickle: the error below says it all
        try:
            return torch.load(path, map_location=device, weights_only=True)
        except FileNotFoundError:
            raise
        except pickle.UnpicklingError:
            reason = "it holds pickled Python objects other than tensors, which vibmag never loads (loading them could run code)"
        except Exception as exc:  # torch raises RuntimeError, EOFError, zipfile errors... on corrupt or foreign files
            reason = f"not a torch file, or corrupt ({type(exc).__name__})"
    raise ModelFileError(f"{path}: not a vibmag {what}: {reason}")


def resolve_flow(spec=None):
    """A frozen flow estimator from a spec.

    ``None`` or ``"vibmag"``: vibmag.flow's default estimator; a name from
    ``vibmag.flow.available_methods()``; ``"module:attribute"`` (a class is
    instantiated without arguments); or any callable, returned as is.

    Raises
    ------
    ValueError
        If ``spec`` names no estimator.
    """
    if callable(spec):
        return freeze(spec)
    if spec is None or spec == "vibmag":
        return freeze(vflow.get_estimator())
    if spec in vflow.available_methods():
        return freeze(vflow.get_estimator(spec))
    if isinstance(spec, str) and ":" in spec:
        module, _, attribute = spec.partition(":")
        obj = getattr(importlib.import_module(module), attribute)
        return freeze(obj() if isinstance(obj, type) else obj)
    raise ValueError(f"unknown flow estimator {spec!r}: use 'vibmag', one of {vflow.available_methods()}, or 'module:callable'")


def _as_nchw(frames, device) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(frames, dtype=np.float32) if not isinstance(frames, torch.Tensor) else frames)
    x = x.to(device=device, dtype=torch.float32)
    if x.dim() == 2:
        return x[None, None]
    if x.dim() == 3:
        return x[:, None]
    if x.dim() == 4:
        return x.permute(0, 3, 1, 2)
    raise ValueError(f"frames must be (H, W), (T, H, W) or (T, H, W, C), got shape {tuple(x.shape)}")


def _stride(model: Magnifier) -> int:
    return 2 ** len(model.widths)


def _pad(x: torch.Tensor, ph: int, pw: int, mode: str) -> torch.Tensor:
    if ph == 0 and pw == 0:
        return x
    if mode == "reflect" and (ph >= x.shape[-2] or pw >= x.shape[-1]):
        mode = "replicate"
    return torch.nn.functional.pad(x, (0, pw, 0, ph), mode=mode)


def _run_network(model: Magnifier, i0, it, alpha, flow, confidence) -> torch.Tensor:
    """One application of G on a (possibly large) batch, padded and tiled."""
    n, c, h, w = it.shape
    if h > _TILE + _OVERLAP or w > _TILE + _OVERLAP:
        return _tiled(model, i0, it, alpha, flow, confidence)
    s = _stride(model)
    ph, pw = (-h) % s, (-w) % s
    out = model(
        _pad(i0, ph, pw, "reflect"),
        _pad(it, ph, pw, "reflect"),
        _pad(alpha, ph, pw, "replicate"),
        flow=None if flow is None else _pad(flow, ph, pw, "replicate"),
        confidence=None if confidence is None else _pad(confidence, ph, pw, "replicate"),
    )
    out = out[..., :h, :w]
    # alpha == 1 pixels are It exactly, also next to padding
    return torch.where(alpha == 1.0, it, out)


def _ramp(length: int, start: int, stop: int, total: int, overlap: int) -> torch.Tensor:
    """Blend weights along one axis for a tile covering [start, stop) of [0, total)."""
    wgt = torch.ones(length)
    if start > 0:
        k = min(overlap, length)
        wgt[:k] = torch.linspace(0, 1, k + 2)[1:-1]
    if stop < total:
        k = min(overlap, length)
        wgt[-k:] = torch.minimum(wgt[-k:], torch.linspace(1, 0, k + 2)[1:-1])
    return wgt


def _tiled(model, i0, it, alpha, flow, confidence) -> torch.Tensor:
    n, c, h, w = it.shape
    out = torch.zeros_like(it)
    weight = torch.zeros(1, 1, h, w, dtype=it.dtype, device=it.device)
    step = _TILE - _OVERLAP
    ys = list(range(0, max(h - _OVERLAP, 1), step))
    xs = list(range(0, max(w - _OVERLAP, 1), step))
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(y0 + _TILE, h), min(x0 + _TILE, w)
            sl = (Ellipsis, slice(y0, y1), slice(x0, x1))
            part = _run_network(
                model, i0[sl], it[sl], alpha[sl],
                None if flow is None else flow[sl], None if confidence is None else confidence[sl],
            )
            wy = _ramp(y1 - y0, y0, y1, h, _OVERLAP).to(it)
            wx = _ramp(x1 - x0, x0, x1, w, _OVERLAP).to(it)
            wgt = (wy[:, None] * wx[None, :])[None, None]
            out[sl] += part * wgt
            weight[sl] += wgt
    return out / weight.clamp_min(1e-12)


@torch.no_grad()
def magnify_pair(
    model: Magnifier,
    i0,
    it,
    alpha,
    *,
    estimator=None,
    flow: torch.Tensor | None = None,
    confidence: torch.Tensor | None = None,
    gate: bool = False,
    sharpen: bool = False,
) -> torch.Tensor:
    """Magnify ``it`` against ``i0``: J = G(I0, It, alpha), (N, C, H, W) float32.

    Parameters
    ----------
    model : Magnifier
        E.g. from :func:`load_model`.
    i0 : torch.Tensor, shape (1 or N, C, H, W)
        Reference.
    it : torch.Tensor, shape (N, C, H, W)
        Frames to magnify.
    alpha : float or torch.Tensor
        A number, (N,), (H, W) or (N, 1, H, W) per-pixel map.
    estimator : callable, optional
        Flow callable for the ``"flow"`` variant and for repeated
        application (default :func:`resolve_flow`).
    flow : torch.Tensor, shape (N, 2, H, W), optional
        F(I0, It) px if already computed (first application only).
    confidence : torch.Tensor, shape (N, 1, H, W), optional
        Its confidence in [0, 1] (default 1).
    gate : bool
        Magnify each pair only where its motion is significant against the
        flow's uncertainty, so still background stays still at any alpha
        (:mod:`vibmag.magnification.gate`; one more Lucas-Kanade fit per pair).
    sharpen : bool
        Sharpen the motion outlines of the estimator's flow before it is
        used (:func:`vibmag.flow.outlines.sharpen_outlines`: each pixel takes
        the neighbouring flow that explains it best), so the background
        next to a moving object is not dragged along; not applied to a
        given ``flow``. About 50 spline warps of the pair.

    Returns
    -------
    torch.Tensor, shape (N, C, H, W)
        J, float32.

    Raises
    ------
    ValueError
        If ``alpha`` is negative or not finite somewhere.

    Notes
    -----
    Alpha above ``model.max_alpha`` is reached by ``k`` applications of
    ``alpha ** (1 / k)``, each against I0. The flow input of each later
    application is the estimator's F(I0, J) or, where ``flow`` was given
    (e.g. a band-passed displacement), ``flow`` times the alpha applied so far.
    """
    n, _, h, w = it.shape
    alpha = expand_alpha(alpha, n, h, w, it)
    if torch.any(alpha < 0) or not torch.all(torch.isfinite(alpha)):
        raise ValueError("alpha must be finite and >= 0")
    if gate:
        alpha = 1.0 + (alpha - 1.0) * pair_gate(i0, it)
    if torch.all(alpha == 1.0):
        return it.clone()
    needs_flow = model.uses_flow
    k = max(1, math.ceil(math.log(float(alpha.max())) / math.log(model.max_alpha) - 1e-9)) if float(alpha.max()) > model.max_alpha else 1
    given = flow is not None
    if needs_flow and not given:
        estimator = resolve_flow(estimator)
        flow, confidence = _pair_flow(estimator, i0, it, sharpen)
    alpha_k = alpha ** (1.0 / k) if k > 1 else alpha
    out = it
    for application in range(k):
        if needs_flow and application > 0:
            if given:  # the caller's (e.g. band-passed) motion, as magnified by the previous applications
                flow_now = flow * alpha_k**application
            else:
                flow_now, confidence = _pair_flow(estimator, i0, out, sharpen)
        else:
            flow_now = flow
        out = _run_network(model, i0, out, alpha_k, flow_now if needs_flow else None, confidence if needs_flow else None)
    return out


@torch.no_grad()
def magnify_frames(
    model: Magnifier,
    frames,
    alpha,
    *,
    reference: int = 0,
    estimator=None,
    flows: torch.Tensor | None = None,
    batch_size: int = 4,
    progress: Callable[[int, int], None] | bool | None = None,
    clip: bool = True,
    gate: bool = False,
    sharpen: bool = False,
) -> np.ndarray:
    """Magnify every frame of ``frames`` against ``frames[reference]``.

    Parameters
    ----------
    model : Magnifier
        E.g. from :func:`load_model`.
    frames : array-like, shape (T, H, W) or (T, H, W, C)
        Intensities in [0, 1].
    alpha : float or array-like, shape (H, W)
        Number or per-pixel map (see :func:`alpha_map`).
    reference : int
        Index of the reference frame I0.
    estimator : callable, optional
        Flow callable (default :func:`resolve_flow`).
    flows : torch.Tensor, shape (T, 2, H, W), optional
        Precomputed F(I0, It) px, e.g. a
        band-passed displacement, used by the ``"flow"`` variant in place
        of the estimator's (their confidence is then taken as 1).
    batch_size : int
        Frames per application of the network.
    progress : callable, bool or None
        Called as ``progress(done, total)`` after each batch; or a bar on
        stderr: None shows one on a terminal, True always, False never.
    clip : bool
        Clip the result to [0, 1].
    gate : bool
        Magnify only where some frame's motion is significant against the
        flow's uncertainty (:mod:`vibmag.magnification.gate`): one weight
        for the whole sequence, the largest of its frames', so a region is
        not switched on and off from frame to frame. Costs one more
        Lucas-Kanade fit per frame.
    sharpen : bool
        Sharpen the estimator's flow at motion outlines, as in
        :func:`magnify_pair` (not applied to given ``flows``).

    Returns
    -------
    numpy.ndarray
        Shaped like ``frames``, float32. The reference frame is
        returned unchanged.
    """
    device = next(model.parameters()).device
    x = _as_nchw(frames, device)
    squeeze_channel = np.asarray(frames).ndim == 3 if not isinstance(frames, torch.Tensor) else frames.dim() == 3
    t = x.shape[0]
    i0 = x[reference : reference + 1]
    out = torch.empty_like(x)
    estimator = resolve_flow(estimator)
    if gate:
        alpha = _gated_alpha(alpha, sequence_gate(i0, x, batch_size), x)
    with as_progress(progress, "magnification") as report:
        for start in range(0, t, batch_size):
            stop = min(start + batch_size, t)
            batch = x[start:stop]
            flow = confidence = None
            if model.uses_flow:
                if flows is not None:
                    flow = torch.as_tensor(flows[start:stop], dtype=torch.float32, device=device)
                else:
                    flow, confidence = _pair_flow(estimator, i0, batch, sharpen)
            out[start:stop] = magnify_pair(model, i0, batch, _alpha_for(alpha, stop - start, x), estimator=estimator,
                                           flow=flow, confidence=confidence)
            if report is not None:
                report(stop, t)
    out[reference] = x[reference]
    if clip:
        out = out.clamp(0.0, 1.0)
    result = out.permute(0, 2, 3, 1).cpu().numpy()
    return result[..., 0] if squeeze_channel else result


def _pair_flow(estimator, i0: torch.Tensor, it: torch.Tensor, sharpen: bool):
    """``(flow, confidence)`` of the estimator on the pair, the flow's outlines sharpened when ``sharpen``."""
    flow, confidence = flow_and_confidence(estimator, i0, it)
    if sharpen:
        flow = sharpen_outlines(to_luminance(i0), to_luminance(it), flow)
    return flow, confidence


def sequence_gate(i0: torch.Tensor, frames: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(H, W) the largest over ``frames`` (T, C, H, W) of each frame's :func:`~vibmag.magnification.gate.pair_gate`."""
    weight = torch.zeros(frames.shape[-2:], dtype=frames.dtype, device=frames.device)
    for start in range(0, frames.shape[0], batch_size):
        weight = torch.maximum(weight, pair_gate(i0, frames[start:start + batch_size]).amax(dim=(0, 1)))
    return weight


def _gated_alpha(alpha, weight: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``1 + (alpha - 1) * weight`` as an (H, W) map; ``alpha`` a number or an (H, W) map."""
    return 1.0 + (_alpha_tensor(alpha, like) - 1.0) * weight


def _alpha_tensor(alpha, like: torch.Tensor) -> torch.Tensor:
    """``alpha`` (a number, array or tensor) as a tensor of ``like``'s dtype and device."""
    return torch.as_tensor(np.asarray(alpha, dtype=np.float32) if not isinstance(alpha, torch.Tensor) else alpha).to(like)


def _alpha_for(alpha, n: int, like: torch.Tensor):
    a = _alpha_tensor(alpha, like)
    if a.dim() == 2:
        return a.view(1, 1, *a.shape).expand(n, 1, *a.shape)
    return a


def alpha_map(shape, alpha, region=None, *, transition: float = DEFAULT_TRANSITION) -> np.ndarray:
    """A per-pixel magnification map: ``alpha`` inside ``region``, exactly 1 outside.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` of the frames.
    alpha : float or array-like, shape (H, W)
        Number or (H, W) array.
    region : optional
        As :func:`vibmag.region_mask`: boolean/float mask, polygon
        vertices ``[(y, x), ...]``, box ``(y0, x0, y1, x1)``, or None (whole frame).
    transition : float
        Width (px) of a raised-cosine ramp *inside* the region,
        from 1 at its edge to the full alpha (default
        :data:`DEFAULT_TRANSITION`, 8 px); 0 gives a hard edge
        (:func:`vibmag.magnification.alpha.with_region`).

    Returns
    -------
    numpy.ndarray, shape (H, W)
        float32.

    Raises
    ------
    vibmag.errors.MagnifyError
        If the region covers no pixel, or ``transition`` is negative.
    """
    h, w = int(shape[0]), int(shape[1])
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (h, w))
    if region is None:
        return np.array(alpha, dtype=np.float32)
    grid = xr.DataArray(np.zeros((h, w)), dims=("y", "x"))
    inside = region_mask(grid, region).values > 0.5
    return with_region(alpha, inside, transition).astype(np.float32)
