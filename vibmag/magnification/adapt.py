"""Test-time adaptation: fine-tune a copy of the magnifier on one recording (METHOD.md section 1).

The copy is trained on pairs (frame 0, frame i) of the recording with the same
self-supervised losses as training (Adam, lr 1e-4, alpha drawn log-uniform,
light augmentation: random crops and flips shared by both frames). The model
passed in is never modified. Work is bounded by ``steps`` and
``time_limit``, reports progress as ``progress(done, total)`` steps, and
stops early when ``cancel`` is set; the loss of every step is kept in the
adapted copy's ``metadata["adapted_losses"]``.
"""

from __future__ import annotations

import copy
import threading
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from ..errors import VibmagWarning
from ..flow.filters import to_luminance_array
from .infer import resolve_flow
from .losses import FlowMagLoss, flow_and_confidence
from .model import Magnifier
from .train import train_step

__all__ = ["adapt", "recording_pairs"]


def recording_pairs(ds, *, reference: int = 0, max_pairs: int | None = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(i0, frames)``: the reference frame (H, W) and up to ``max_pairs`` other frames (P, H, W), luminance.

    Colour frames (time, y, x, channel) are reduced to BT.601 luminance
    (:func:`vibmag.flow.filters.to_luminance_array`), as the magnifier and
    the flow estimators read them.

    Raises
    ------
    ValueError
        If the recording has fewer than 2 frames or another shape.
    """
    frames = ds["frames"] if hasattr(ds, "__getitem__") and not isinstance(ds, np.ndarray) else ds
    values = np.asarray(getattr(frames, "values", frames), dtype=np.float32)
    if values.ndim == 4:
        values = to_luminance_array(values)
    if values.ndim != 3 or values.shape[0] < 2:
        raise ValueError(f"adapt needs a recording of at least 2 frames shaped (time, y, x[, channel]), got {values.shape}")
    others = np.array([i for i in range(values.shape[0]) if i != reference])
    if max_pairs is not None and len(others) > max_pairs:
        others = np.sort(np.random.default_rng([seed, 21]).choice(others, max_pairs, replace=False))
    return values[reference], values[others]


def adapt(
    model: Magnifier,
    ds,
    *,
    steps: int = 100,
    time_limit: float | None = 120.0,
    lr: float = 1e-4,
    batch_size: int = 4,
    crop: int = 128,
    alpha_range: tuple[float, float] = (1.0, 16.0),
    reference: int = 0,
    estimator=None,
    seed: int = 0,
    progress: Callable[[int, int], object] | None = None,
    cancel: threading.Event | None = None,
    max_pairs: int | None = 64,
) -> Magnifier:
    """A copy of ``model`` fine-tuned on ``ds`` with the self-supervised losses.

    Parameters
    ----------
    model : Magnifier
        The magnifier to start from (left unchanged).
    ds : xarray.Dataset or numpy.ndarray
        A recording Dataset (``frames`` (time, y, x[, channel])) or a (T, H, W) array.
    steps : int
        Optimiser steps (at most).
    time_limit : float or None
        Seconds (at most); None for no limit.
    lr : float
        Adam learning rate (the paper's 1e-4).
    batch_size : int
        Pairs per step.
    crop : int
        Side of the square crops, px (smaller frames are used whole).
    alpha_range : (float, float)
        Alpha is drawn log-uniform in this range.
    reference : int
        Index of the reference frame I0.
    estimator : callable, optional
        Frozen flow callable (default vibmag.flow's).
    seed : int
        Seeds crops, flips and alphas.
    progress : callable, optional
        Called ``progress(done, total)`` after every step (``done`` steps
        of ``total = steps``).
    cancel : threading.Event, optional
        When set, adaptation stops after the current step.
    max_pairs : int or None
        Frames paired with the reference (drawn by ``seed``); None for all.

    Returns
    -------
    Magnifier
        The adapted copy, in eval mode, with ``metadata["adapted_steps"]``
        (steps done) and ``metadata["adapted_losses"]`` (the total loss of
        each step, floats).

    Raises
    ------
    ValueError
        If ``steps`` is negative or the recording has fewer than 2 frames.

    Warns
    -----
    VibmagWarning
        For a model trained with the independent-flow objective (the shipped one): these
        same-noise losses made it worse (docs/model_card.md).

    Examples
    --------
    >>> import vibmag
    >>> from vibmag.synthetic import object_scene
    >>> ds = object_scene((32, 32), n_frames=3, seed=1)
    >>> model = vibmag.load_model()
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:  # the shipped model: adapt warns (below)
    ...     warnings.simplefilter("always")
    ...     adapted = vibmag.adapt(model, ds, steps=1, batch_size=1)
    >>> adapted.metadata["adapted_steps"], adapted is model, caught[0].category.__name__
    (1, False, 'VibmagWarning')
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    adapted = copy.deepcopy(model)
    adapted.metadata = {**getattr(model, "metadata", {}), "adapted_steps": 0, "adapted_losses": []}
    if steps == 0:
        return adapted.eval()
    if "--objective independent-flow" in getattr(model, "metadata", {}).get("command", ""):
        warnings.warn("test-time adaptation fine-tunes with the paper's losses, whose target shares the recording's "
                      "noise; on the shipped (independent-flow) model it raised the motion error by 11-15 % in 2 min on a "
                      "held-out recording (docs/model_card.md): use it to experiment, not to improve the result",
                      VibmagWarning, stacklevel=2)
    device = next(adapted.parameters()).device
    estimator = resolve_flow(estimator)
    loss_fn = FlowMagLoss(estimator)
    i0_np, frames_np = recording_pairs(ds, reference=reference, max_pairs=max_pairs, seed=seed)
    h, w = i0_np.shape
    ch, cw = min(crop, h), min(crop, w)
    i0_all = torch.from_numpy(i0_np).to(device)[None, None]
    frames_all = torch.from_numpy(frames_np).to(device)[:, None]
    # F(I0, Ii) of the whole frames once (data, no gradient); crops are cut from it
    with torch.no_grad():
        flows, confs = [], []
        for start in range(0, frames_all.shape[0], 8):
            f, c = flow_and_confidence(estimator, i0_all, frames_all[start : start + 8])
            flows.append(f)
            confs.append(c if c is not None else torch.ones_like(f[:, :1]))
        flow_all, conf_all = torch.cat(flows), torch.cat(confs)
    optimizer = torch.optim.Adam(adapted.parameters(), lr=lr)
    started = time.monotonic()
    done = 0
    for step in range(steps):
        if cancel is not None and cancel.is_set():
            break
        if time_limit is not None and time.monotonic() - started >= time_limit:
            break
        rng = np.random.default_rng([seed, 22, step])
        idx = rng.integers(0, frames_all.shape[0], batch_size)
        i0s, its, fls, cfs = [], [], [], []
        for k in idx:
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            sl = (Ellipsis, slice(y, y + ch), slice(x, x + cw))
            a, b, f, c = i0_all[0][sl], frames_all[k][sl], flow_all[k][sl], conf_all[k][sl]
            if rng.random() < 0.5:  # horizontal flip: x flow changes sign
                a, b, c = a.flip(-1), b.flip(-1), c.flip(-1)
                f = f.flip(-1) * torch.tensor([-1.0, 1.0], device=device).view(2, 1, 1)
            i0s.append(a)
            its.append(b)
            fls.append(f)
            cfs.append(c)
        i0, it, flow, conf = (torch.stack(v) for v in (i0s, its, fls, cfs))
        alpha = torch.from_numpy(np.exp(rng.uniform(*np.log(alpha_range), size=batch_size)).astype(np.float32)).to(device).view(-1, 1, 1, 1)
        terms = train_step(adapted, loss_fn, optimizer, i0, it, alpha, flow=flow, confidence=conf)
        adapted.metadata["adapted_losses"].append(terms.value)
        done = step + 1
        if progress is not None:
            progress(done, steps)
    adapted.metadata["adapted_steps"] = done
    for p in adapted.parameters():
        p.requires_grad_(model_requires_grad(model))
    return adapted.eval()


def model_requires_grad(model: Magnifier) -> bool:
    """Whether the original model's parameters require gradients (the copy keeps the same)."""
    return any(p.requires_grad for p in model.parameters())
