"""The self-supervised losses of Pan, Geng & Owens 2023 (METHOD.md section 1).

Both losses backpropagate through a frozen, differentiable flow estimator
``F(ref, moving) -> (N, 2, H, W)`` px (x first, ``moving(p + F(p)) = ref(p)``):

    L_mag   = mean |F(I0, J) - alpha * F(I0, It)|                 (L1, px)
    L_color = mean |warp(It, F(I0, It)) - warp(J, F(I0, J))|        (bilinear, reflection padding)
    L       = 1.0 * L_mag + 10.0 * L_color

exactly as the released code: no clamping, mask or stop-gradient (the target
``alpha * F(I0, It)`` carries no gradient because I0 and It are data). The one
option, ``mask``, weights both means per pixel (e.g. by the estimator's
confidence); it is off by default, and any use is documented with its
measurements in docs/model_card.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..flow.warp import warp
from .splat import edge_aware_flow, splat_visibility

__all__ = [
    "FlowFn",
    "freeze",
    "flow_and_confidence",
    "warp_bilinear",
    "magnification_loss",
    "color_loss",
    "FlowMagLoss",
    "LossTerms",
    "EdgeAwareLoss",
    "LossTarget",
]

FlowFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MAG_WEIGHT = 1.0
COLOR_WEIGHT = 10.0


def freeze(estimator):
    """Freeze a flow estimator in place (eval mode, no parameter gradients) and return it.

    Gradients still flow *through* it to its inputs, which is what training needs.
    """
    if isinstance(estimator, torch.nn.Module):
        estimator.eval()
        for p in estimator.parameters():
            p.requires_grad_(False)
    return estimator


def flow_and_confidence(estimator, ref: torch.Tensor, moving: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(flow, confidence)`` from an estimator.

    Calls ``estimator(ref, moving, return_confidence=True)`` where the
    estimator takes that keyword (vibmag.flow's estimators do), accepts
    estimators that return a ``(flow, confidence)`` tuple, and otherwise
    returns ``(estimator(ref, moving), None)``. Confidence is (N, 1, H, W)
    in [0, 1].
    """
    if _takes_keyword(estimator, "return_confidence"):
        result = estimator(ref, moving, return_confidence=True)
    else:
        result = estimator(ref, moving)
    if isinstance(result, (tuple, list)):
        flow, confidence = result[0], result[1]
    elif hasattr(result, "flow"):
        flow, confidence = result.flow, getattr(result, "confidence", None)
    else:
        flow, confidence = result, None
    if confidence is not None and confidence.dim() == 3:
        confidence = confidence.unsqueeze(1)
    return flow, confidence


def _takes_keyword(estimator, name: str) -> bool:
    function = estimator.forward if isinstance(estimator, torch.nn.Module) else estimator
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def flow_only(estimator, ref: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
    """The flow of an estimator that may also return a confidence."""
    result = estimator(ref, moving)
    if isinstance(result, (tuple, list)):
        return result[0]
    if hasattr(result, "flow"):
        return result.flow
    return result


def warp_bilinear(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image(p + flow(p))`` by bilinear ``grid_sample`` with reflection padding (the paper's warp).

    :func:`vibmag.flow.warp` with ``interpolation="bilinear"``: (N, C, H, W)
    images, (N, 2, H, W) flow in px, x first.
    """
    return warp(image, flow, interpolation="bilinear")


def _mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return x.mean()
    weight = mask.expand_as(x)
    return (x * weight).sum() / weight.sum().clamp_min(1e-8)


def magnification_loss(flow_magnified: torch.Tensor, flow_input: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """L_mag = mean |F(I0, J) - alpha * F(I0, It)| over both components and all pixels (px).

    ``alpha`` is a number, (N, 1, 1, 1) or a per-pixel (N, 1, H, W) map.
    """
    return _mean((flow_magnified - alpha * flow_input).abs(), mask)


def color_loss(
    it: torch.Tensor, magnified: torch.Tensor, flow_input: torch.Tensor, flow_magnified: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """L_color = mean |warp(It, F(I0, It)) - warp(J, F(I0, J))| (both warped back onto I0's grid)."""
    return _mean((warp_bilinear(it, flow_input) - warp_bilinear(magnified, flow_magnified)).abs(), mask)


@dataclass
class LossTerms:
    """The total loss (a differentiable tensor) and its parts as floats."""

    total: torch.Tensor
    mag: float
    color: float

    @property
    def value(self) -> float:
        """The total as a float."""
        return float(self.total.detach())


class FlowMagLoss:
    """Total loss ``mag_weight * L_mag + color_weight * L_color`` with a frozen flow estimator in the loop.

    Parameters
    ----------
    estimator : callable
        Any callable ``(ref, moving) -> flow`` (N, 2, H, W), x first,
        differentiable w.r.t. ``moving``; frozen here (:func:`freeze`).
    mag_weight : float
        Weight of L_mag, 1.0 as in the paper.
    color_weight : float
        Weight of L_color, 10.0 as in the paper.
    confidence_mask : bool
        Weight both terms per pixel by the confidence of
        F(I0, It) (an option; off by default, the paper has none).
    """

    def __init__(self, estimator: FlowFn, *, mag_weight: float = MAG_WEIGHT, color_weight: float = COLOR_WEIGHT, confidence_mask: bool = False):
        self.estimator = freeze(estimator)
        self.mag_weight = float(mag_weight)
        self.color_weight = float(color_weight)
        self.confidence_mask = bool(confidence_mask)

    def __call__(
        self,
        i0: torch.Tensor,
        it: torch.Tensor,
        magnified: torch.Tensor,
        alpha: torch.Tensor,
        *,
        flow_input: torch.Tensor | None = None,
        confidence: torch.Tensor | None = None,
    ) -> LossTerms:
        """Losses of ``magnified`` = G(i0, it, alpha); ``flow_input`` = F(i0, it) if already computed."""
        if flow_input is None:
            with torch.no_grad():
                flow_input, confidence = flow_and_confidence(self.estimator, i0, it)
        flow_magnified = flow_only(self.estimator, i0, magnified)
        mask = confidence if (self.confidence_mask and confidence is not None) else None
        l_mag = magnification_loss(flow_magnified, flow_input, alpha, mask)
        l_color = color_loss(it, magnified, flow_input, flow_magnified, mask)
        total = self.mag_weight * l_mag + self.color_weight * l_color
        return LossTerms(total, float(l_mag.detach()), float(l_color.detach()))



@dataclass
class LossTarget:
    """What :class:`EdgeAwareLoss` judges against: computed once per pair, from a copy whose noise is not the input's."""

    i0: torch.Tensor  # (N, 1, H, W) the judging copy's reference frame
    it: torch.Tensor  # (N, 1, H, W) its moved frame
    flow: torch.Tensor  # (N, 2, H, W) edge-aware F(i0, it)
    target: torch.Tensor  # (N, 2, H, W) alpha * flow
    visible: torch.Tensor  # (N, 1, H, W) 1 where the target's z-ordered forward splat keeps the pixel in front


class EdgeAwareLoss:
    """The loss of METHOD.md section 7, ranked right against exact renders (benchmarks/loss_ranking.py).

    1. Target: an edge-aware Lucas-Kanade (``target_sigma`` px window, weights
       times intensity similarity to the centre), started from the default
       estimator, on a copy of the pair whose noise is independent of the
       generator's input (a second render on synthetic data), times alpha.
    2. Estimator on the output: the same edge-aware Lucas-Kanade
       (``output_sigma`` px), started at the target, fitting only the deviation:
       it only has to resolve what is wrong, so large magnified motions are
       measurable.
    3. Visibility: a z-buffered forward splat of the target (larger motion in
       front) masks both terms and the estimator's windows, so correct
       outlines and uncovered background are not penalised.

    ``L = mag_weight * mean_vis |F(I0', J) - alpha F(I0', It')| + color_weight * mean_vis |warp(It', F') - warp(J, F(I0', J))|``
    with ``'`` the judging copy. Self-supervised: no magnified frame is used.
    """

    def __init__(self, estimator: FlowFn | None = None, *, target_sigma: float = 2.0, output_sigma: float = 3.0,
                 range_sigma: float = 0.1, mag_weight: float = MAG_WEIGHT, color_weight: float = COLOR_WEIGHT, iterations: int = 2):
        self.estimator = None if estimator is None else freeze(estimator)
        self.target_sigma, self.output_sigma, self.range_sigma = float(target_sigma), float(output_sigma), float(range_sigma)
        self.mag_weight, self.color_weight, self.iterations = float(mag_weight), float(color_weight), int(iterations)

    def target(self, i0: torch.Tensor, it: torch.Tensor, alpha: torch.Tensor) -> LossTarget:
        """The target of a judging copy ``(i0, it)`` (N, 1, H, W) at ``alpha`` (number, (N, 1, 1, 1) or (N, 1, H, W))."""
        with torch.no_grad():
            init = flow_only(self.estimator, i0, it) if self.estimator is not None else i0.new_zeros((i0.shape[0], 2, *i0.shape[-2:]))
            flow = edge_aware_flow(i0, it, init, sigma=self.target_sigma, range_sigma=self.range_sigma, iterations=self.iterations)
            target = alpha * flow
            return LossTarget(i0, it, flow, target, splat_visibility(target))

    def __call__(self, magnified: torch.Tensor, target: LossTarget) -> LossTerms:
        """Losses of ``magnified`` (N, 1, H, W) against a :class:`LossTarget`; differentiable in ``magnified``."""
        flow = edge_aware_flow(target.i0, magnified, target.target, sigma=self.output_sigma, range_sigma=self.range_sigma,
                               weight=target.visible, iterations=self.iterations)
        l_mag = _mean((flow - target.target).abs(), target.visible)
        l_color = _mean((warp_bilinear(target.it, target.flow) - warp_bilinear(magnified, flow)).abs(), target.visible)
        total = self.mag_weight * l_mag + self.color_weight * l_color
        return LossTerms(total, float(l_mag.detach()), float(l_color.detach()))
