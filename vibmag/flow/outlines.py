"""Sharper motion outlines: each pixel takes the flow of the neighbour that explains it best.

A windowed estimator (Lucas-Kanade, any window) gives every pixel near a
motion boundary a blend of the motions on both sides: an object's motion
leaks a few px into the still background and the background's into the
object. Magnified, the leak drags background texture with the object.

:func:`sharpen_outlines` replaces the blend by a choice. For every pixel p
the candidates are the flow at p and the flow at p + d for offsets d of
``radii`` px along the 8 compass directions (near an outline one of them lies
inside each of the two regions, where the flow is unmixed); each candidate
``c`` is scored by the photometric residual it leaves around p,

    E_c(p) = sum_q g(q - p) [moving(q + c(p)) - ref(q)]^2,        g: Gaussian of sigma px,

and p takes the candidate with the lowest score, unless it beats the flow at
p by less than ``margin`` times the residual's own variance (the pair's
noise), so that on noise the estimate stays as it was. ``passes`` repeats it,
letting an unmixed flow travel further into a wide blend.

Measured (scratch runs on benchmarks/magnification_quality.py's scenes, 3
seeds, 10 px magnified motion, noise 0): mean end-point error of the flow
against the exact displacement 0.0067 -> 0.0029 px at 0.05 px motion and
0.115 -> 0.045 px at 1 px; forward-splat SSIM 0.765 -> 0.823 and 0.830 ->
0.889. With noise 0.01 it leaves the flow nearly as it was (the margin).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .filters import gaussian_kernel1d, separable_filter
from .warp import bspline_coefficients, sample_bspline

__all__ = ["sharpen_outlines"]

#: Median of a chi-square variable with one degree of freedom (the residual's variance from its median square).
_MEDIAN_CHI2_1 = 0.4549


def sharpen_outlines(ref: torch.Tensor, moving: torch.Tensor, flow: torch.Tensor, *, radii=(2, 4, 6),
                     sigma: float = 1.0, margin: float = 1.0, passes: int = 2) -> torch.Tensor:
    """The flow (N, 2, H, W) with each pixel's value replaced by the neighbouring flow that explains it best.

    Parameters
    ----------
    ref, moving : torch.Tensor, shape (N, 1, H, W)
        The pair the flow was measured on (luminance; ``ref`` may have N = 1).
    flow : torch.Tensor, shape (N, 2, H, W)
        px, x first, with ``moving(p + flow(p)) = ref(p)``.
    radii : sequence of int
        Distances (px) of the candidate neighbours, each in 8 directions.
    sigma : float
        Gaussian window (px) of the residual score.
    margin : float
        How much lower (in units of the residual's variance, estimated
        from its median over the frame) a neighbour's score must be.
    passes : int
        Repetitions (each starts from the previous result).

    Returns
    -------
    torch.Tensor, shape (N, 2, H, W)
        Every value one of the input flow's values (never a new one).

    Raises
    ------
    ValueError
        If the shapes do not fit or ``radii`` holds a non-positive value.
    """
    _check(ref, moving, flow, radii)
    coefficients = bspline_coefficients(moving)
    window = gaussian_kernel1d(sigma)
    for _ in range(passes):
        flow = _choose(ref, coefficients, flow, radii, window, margin)
    return flow


def _check(ref, moving, flow, radii) -> None:
    if moving.dim() != 4 or moving.shape[1] != 1 or ref.dim() != 4 or ref.shape[1] != 1:
        raise ValueError(f"ref and moving must be (N, 1, H, W) luminance, got {tuple(ref.shape)} and {tuple(moving.shape)}")
    if flow.shape != (moving.shape[0], 2, *moving.shape[-2:]) or ref.shape[-2:] != moving.shape[-2:]:
        raise ValueError(f"flow must be (N, 2, H, W) of the pair's size, got {tuple(flow.shape)} for frames "
                         f"{tuple(moving.shape)}")
    if not radii or min(radii) < 1:
        raise ValueError(f"radii must be positive integers (px), got {radii!r}")


def _choose(ref, coefficients, flow, radii, window, margin) -> torch.Tensor:
    """One pass: per pixel the lowest-scoring candidate, the flow at p kept unless beaten by the margin."""
    best = flow
    best_score = _score(ref, coefficients, flow, window)
    threshold = margin * _residual_variance(ref, coefficients, flow)
    for candidate in _neighbour_flows(flow, radii):
        score = _score(ref, coefficients, candidate, window) + threshold
        better = score < best_score
        best = torch.where(better, candidate, best)
        best_score = torch.where(better, score, best_score)
    return best


def _score(ref, coefficients, flow, window) -> torch.Tensor:
    """(N, 1, H, W) the Gaussian-windowed squared residual ``moving(p + flow) - ref``."""
    return separable_filter((sample_bspline(coefficients, flow) - ref) ** 2, window)


def _residual_variance(ref, coefficients, flow) -> torch.Tensor:
    """(N, 1, 1, 1) the residual's variance, from its median square (robust to the outlines' large residuals)."""
    squared = (sample_bspline(coefficients, flow) - ref) ** 2
    return (squared.flatten(1).median(dim=1).values / _MEDIAN_CHI2_1).view(-1, 1, 1, 1)


def _neighbour_flows(flow: torch.Tensor, radii):
    """The flow read at p + d for d of each radius in the 8 compass directions (edges replicated), one at a time."""
    for radius in radii:
        padded = F.pad(flow, (radius,) * 4, mode="replicate")
        height, width = flow.shape[-2:]
        for dy in (-radius, 0, radius):
            for dx in (-radius, 0, radius):
                if dx or dy:
                    yield padded[..., radius + dy:radius + dy + height, radius + dx:radius + dx + width]
