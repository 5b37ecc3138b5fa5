"""Test-time adaptation: fine-tune a copy of the magnifier on one recording (METHOD.md section 1).

The copy is trained on pairs (frame 0, frame i) of the recording (Adam, lr
1e-4, alpha drawn log-uniform, light augmentation: random crops and flips
shared by both frames) with one of two objectives:

* ``"harmonic"`` (the default for the shipped, independent-flow model, on
  recordings of at least 5 frames): its field is pulled, with the
  independent-flow loss it was trained with, towards its own field set to
  zero where the whole recording shows no periodic motion
  (:func:`vibmag.magnification.recording_target.still_background_target`),
  so a still background stops wobbling with frame 0's noise, which every
  pair flow shares;
* ``"paper"``: the paper's L_mag + L_color against the pair itself (the
  default for other models).

The model passed in is never modified. Work is bounded by ``steps`` and
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
from ..progress import as_progress
from .infer import resolve_flow
from .losses import FlowMagLoss, flow_and_confidence
from .model import Magnifier
from .recording_target import still_background_target
from .train import train_step, train_target_step

__all__ = ["adapt", "recording_pairs"]

_OBJECTIVES = ("auto", "harmonic", "paper")


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
    values = _luminance_frames(ds)
    others = _paired_frames(values.shape[0], reference, max_pairs, seed)
    return values[reference], values[others]


def _luminance_frames(ds) -> np.ndarray:
    """The recording's frames (T, H, W) as float32 luminance; ValueError for fewer than 2 or another shape."""
    frames = ds["frames"] if hasattr(ds, "__getitem__") and not isinstance(ds, np.ndarray) else ds
    values = np.asarray(getattr(frames, "values", frames), dtype=np.float32)
    if values.ndim == 4:
        values = to_luminance_array(values)
    if values.ndim != 3 or values.shape[0] < 2:
        raise ValueError(f"adapt needs a recording of at least 2 frames shaped (time, y, x[, channel]), got {values.shape}")
    return values


def _paired_frames(count: int, reference: int, max_pairs: int | None, seed: int) -> np.ndarray:
    """Indices of the frames :func:`recording_pairs` pairs with the reference, ascending."""
    others = np.array([i for i in range(count) if i != reference])
    if max_pairs is not None and len(others) > max_pairs:
        others = np.sort(np.random.default_rng([seed, 21]).choice(others, max_pairs, replace=False))
    return others


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
    progress: Callable[[int, int], object] | bool | None = None,
    cancel: threading.Event | None = None,
    max_pairs: int | None = 64,
    objective: str = "auto",
) -> Magnifier:
    """A copy of ``model`` fine-tuned on ``ds`` without any magnified ground truth.

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
    progress : callable, bool or None
        Called ``progress(done, total)`` after every step (``done`` steps
        of ``total = steps``); or a bar on stderr: None shows one on a
        terminal, True always, False never.
    cancel : threading.Event, optional
        When set, adaptation stops after the current step.
    max_pairs : int or None
        Frames paired with the reference (drawn by ``seed``); None for all.
    objective : {"auto", "harmonic", "paper"}
        ``"harmonic"``: the field against its still-background target
        (module docstring; needs 4 or more paired frames); ``"paper"``: the
        paper's losses; ``"auto"``: harmonic for a model trained with the
        independent-flow objective (the shipped one) when the recording has
        the frames, else paper.

    Returns
    -------
    Magnifier
        The adapted copy, in eval mode, with ``metadata["adapted_steps"]``
        (steps done), ``metadata["adapted_losses"]`` (the loss of each step,
        floats) and ``metadata["adapted_objective"]``.

    Raises
    ------
    ValueError
        If ``steps`` is negative, ``objective`` unknown, the recording has
        fewer than 2 frames, or ``"harmonic"`` is asked of fewer than 4 pairs.

    Warns
    -----
    VibmagWarning
        For the paper's objective on a model trained with the independent-flow
        objective (the shipped one): those same-noise losses made it worse
        (docs/model_card.md).

    Examples
    --------
    >>> import vibmag
    >>> from vibmag.synthetic import object_scene
    >>> ds = object_scene((32, 32), n_frames=6, seed=1)
    >>> adapted = vibmag.adapt(vibmag.load_model(), ds, steps=1, batch_size=1)
    >>> adapted.metadata["adapted_steps"], adapted.metadata["adapted_objective"]
    (1, 'harmonic')
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if objective not in _OBJECTIVES:
        raise ValueError(f"objective must be one of {_OBJECTIVES}, got {objective!r}")
    values = _luminance_frames(ds)
    paired = _paired_frames(values.shape[0], reference, max_pairs, seed)
    i0_np, frames_np, times = values[reference], values[paired], paired - reference
    objective = _resolve_objective(objective, model, len(times))
    adapted = copy.deepcopy(model)
    adapted.metadata = {**getattr(model, "metadata", {}), "adapted_steps": 0, "adapted_losses": [],
                        "adapted_objective": objective}
    if steps == 0:
        return adapted.eval()
    if objective == "paper" and _trained_independent(model):
        warnings.warn("test-time adaptation with objective='paper' fine-tunes with the paper's losses, whose target "
                      "shares the recording's noise; on the shipped (independent-flow) model it raised the motion error by "
                      "11-15 % in 2 min on a held-out recording (docs/model_card.md); objective='harmonic' (5 frames or "
                      "more) lowered it",
                      VibmagWarning, stacklevel=2)
    device = next(adapted.parameters()).device
    estimator = resolve_flow(estimator)
    i0_all = torch.from_numpy(i0_np).to(device)[None, None]
    frames_all = torch.from_numpy(frames_np).to(device)[:, None]
    flow_all, conf_all = _pair_flows(estimator, i0_all, frames_all)
    target_all = _harmonic_target(adapted, i0_all, frames_all, flow_all, conf_all, times, alpha_range) \
        if objective == "harmonic" else None
    step_fn = _harmonic_step if objective == "harmonic" else _paper_step(FlowMagLoss(estimator))
    optimizer = torch.optim.Adam(adapted.parameters(), lr=lr)
    started = time.monotonic()
    done = 0
    with as_progress(progress, "adaptation", unit="step") as report:
        for step in range(steps):
            if cancel is not None and cancel.is_set():
                break
            if time_limit is not None and time.monotonic() - started >= time_limit:
                break
            rng = np.random.default_rng([seed, 22, step])
            batch = _crop_batch(rng, batch_size, crop, i0_all, frames_all, flow_all, conf_all, target_all)
            alpha = torch.from_numpy(np.exp(rng.uniform(*np.log(alpha_range), size=batch_size)).astype(np.float32)).to(device).view(-1, 1, 1, 1)
            adapted.metadata["adapted_losses"].append(step_fn(adapted, optimizer, batch, alpha))
            done = step + 1
            if report is not None:
                report(done, steps)
    adapted.metadata["adapted_steps"] = done
    for p in adapted.parameters():
        p.requires_grad_(model_requires_grad(model))
    return adapted.eval()


def _trained_independent(model: Magnifier) -> bool:
    """Whether ``model`` was trained with the independent-flow objective (its metadata's command says so)."""
    return "--objective independent-flow" in getattr(model, "metadata", {}).get("command", "")


def _resolve_objective(objective: str, model: Magnifier, pairs: int) -> str:
    """``objective`` with "auto" decided (module docstring); a harmonic target needs 4 or more pairs."""
    if objective == "auto":
        return "harmonic" if _trained_independent(model) and pairs >= 4 else "paper"
    if objective == "harmonic" and pairs < 4:
        raise ValueError(f"objective='harmonic' needs a recording of at least 5 frames (4 paired with the reference), "
                         f"got {pairs} pairs")
    return objective


def _harmonic_target(model: Magnifier, i0, frames, flows, confs, times, alpha_range) -> torch.Tensor:
    """The model's own fields (P, 2, H, W) at the range's geometric-mean alpha, zero where the recording is still."""
    alpha = float(np.sqrt(alpha_range[0] * alpha_range[1]))
    with torch.no_grad():
        fields = torch.cat([model.eval().predict(i0.expand_as(frames[s:s + 8]), frames[s:s + 8],
                                                 torch.full_like(frames[s:s + 8], alpha), flow=flows[s:s + 8],
                                                 confidence=confs[s:s + 8])[0] for s in range(0, frames.shape[0], 8)])
    return still_background_target(fields, times)[0]


def _pair_flows(estimator, i0: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """F(I0, Ii) and its confidence of the whole frames, (P, 2, H, W) and (P, 1, H, W), without gradient."""
    with torch.no_grad():
        flows, confs = [], []
        for start in range(0, frames.shape[0], 8):
            f, c = flow_and_confidence(estimator, i0, frames[start : start + 8])
            flows.append(f)
            confs.append(c if c is not None else torch.ones_like(f[:, :1]))
        return torch.cat(flows), torch.cat(confs)


def _crop_batch(rng: np.random.Generator, batch_size: int, crop: int, i0, frames, flows, confs, targets):
    """``batch_size`` random pairs, each cropped to ``crop`` px and flipped in x half the time (x flows change sign).

    Returns (i0, it, flow, confidence, target) stacked along the batch; target None when ``targets`` is None.
    """
    h, w = i0.shape[-2:]
    ch, cw = min(crop, h), min(crop, w)
    sign = torch.tensor([-1.0, 1.0], device=i0.device).view(2, 1, 1)
    rows = []
    for k in rng.integers(0, frames.shape[0], batch_size):
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        sl = (Ellipsis, slice(y, y + ch), slice(x, x + cw))
        images = [i0[0][sl], frames[k][sl], confs[k][sl]]
        fields = [flows[k][sl]] + ([] if targets is None else [targets[k][sl]])
        if rng.random() < 0.5:  # horizontal flip
            images, fields = [v.flip(-1) for v in images], [f.flip(-1) * sign for f in fields]
        rows.append((images[0], images[1], fields[0], images[2], fields[1] if targets is not None else None))
    return tuple(None if column[0] is None else torch.stack(column) for column in zip(*rows))


def _harmonic_step(model: Magnifier, optimizer, batch, alpha: torch.Tensor) -> float:
    """One step of the field against the harmonic target (the independent-flow loss); returns the loss (px)."""
    i0, it, flow, confidence, target = batch
    return train_target_step(model, optimizer, (i0, it, flow, confidence, target, alpha))


def _paper_step(loss_fn: FlowMagLoss):
    """One step of the paper's losses on a batch; returns the total loss."""
    def step(model: Magnifier, optimizer, batch, alpha: torch.Tensor) -> float:
        i0, it, flow, confidence, _ = batch
        return train_step(model, loss_fn, optimizer, i0, it, alpha, flow=flow, confidence=confidence).value

    return step


def model_requires_grad(model: Magnifier) -> bool:
    """Whether the original model's parameters require gradients (the copy keeps the same)."""
    return any(p.requires_grad for p in model.parameters())
