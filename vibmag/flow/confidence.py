"""Per-pixel reliability of a flow estimate, as a predicted error and a confidence in [0, 1].

Two indicators, combined by taking the larger predicted error:

* texture: for a Gaussian window of sigma s, a weighted least-squares
  translation estimate with intensity noise sigma_n in both frames has, along
  its weakest direction, a standard deviation of about
  ``sigma_n * sqrt(2 / (4 pi s^2 * lambda_min))``, where ``lambda_min`` is the
  smaller eigenvalue of the window-averaged structure tensor (Cramer-Rao,
  METHOD.md section 5). sigma_n is the local residual (which also grows where
  the motion model fails: occlusions, lighting changes), floored by the
  frame's median residual and by ``noise_floor``.
* forward-backward consistency (optional): ``flow(p) + backward(p + flow(p))``
  should vanish; half its length estimates the error of each flow.

The confidence is ``1 / (1 + (error / tolerance)^2)``: 0.5 where the predicted
error equals ``tolerance`` px, near 1 well below it, near 0 on flat texture.

Uncertainty (:func:`displacement_covariance`): the 2x2 covariance of the
windowed least-squares estimate ``delta = A^-1 b``, ``A = w * (g g^T) + lam I``,
``b = w * (g r)``. With residual noise of variance s^2 per pixel that is

    cov(delta) = s^2 A^-1 B A^-1,    B = w^2 * (g~ g~^T),

the sandwich of the estimator (w^2: the window's weights squared, summed like
w). Both frames are pre-smoothed before the fit, so the residual's noise is
correlated over a few pixels: s^2 is the raw (per-pixel, unsmoothed) noise
variance, the windowed residual energy divided by the pre-smoothing kernel's
variance gain, and g~ is the gradient smoothed once more by that kernel (the
correlated noise's footprint). Along a uniform edge A is nearly singular in
the edge's direction and the covariance is large there: the aperture problem.
Calibrated on synthetic speckle plates (tests/flow/test_uncertainty.py,
docs/flow.md): predicted and measured error RMS agree within 30 % for noise
0.25/255 to 4/255 and speckle of 2 to 8 px.
"""

from __future__ import annotations

import math

import torch

from .warp import warp

__all__ = [
    "min_eigenvalue",
    "texture_error",
    "forward_backward_error",
    "confidence_from_error",
    "error_from_confidence",
    "displacement_covariance",
    "noise_variance_gain",
]


def min_eigenvalue(xx: torch.Tensor, xy: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
    """Smaller eigenvalue of the symmetric 2x2 matrices [[xx, xy], [xy, yy]] (elementwise, >= 0)."""
    half_trace = 0.5 * (xx + yy)
    radius = torch.sqrt((0.5 * (xx - yy)) ** 2 + xy * xy)
    return (half_trace - radius).clamp_min(0.0)


def texture_error(
    structure: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    residual_energy: torch.Tensor,
    *,
    window: float,
    noise_floor: float,
) -> torch.Tensor:
    """Predicted standard deviation (px) of a windowed flow estimate, (N, 1, H, W).

    Parameters
    ----------
    structure : tuple of torch.Tensor
        Window-averaged ``(gx^2, gx gy, gy^2)``, each (N, 1, H, W)
        (window weights summing to 1).
    residual_energy : torch.Tensor, shape (N, 1, H, W)
        Window-averaged squared residual ``(warped - ref)^2``.
    window : float
        Gaussian window sigma (px); the window's effective area is 4 pi sigma^2.
    noise_floor : float
        Smallest intensity noise assumed, so that noise-free flat
        areas are still reported as unreliable.

    Returns
    -------
    torch.Tensor, shape (N, 1, H, W)
        Predicted standard deviation, px.
    """
    per_frame = residual_energy.flatten(1).median(dim=1).values.view(-1, 1, 1, 1)
    noise_var = torch.maximum(residual_energy, per_frame).mul(0.5).clamp_min(noise_floor**2)
    effective_area = 4.0 * math.pi * window**2
    lam = min_eigenvalue(*structure)
    tiny = torch.finfo(lam.dtype).tiny
    return torch.sqrt(2.0 * noise_var / (effective_area * lam + tiny))


def noise_variance_gain(kernel1d: tuple[float, ...]) -> float:
    """Variance gain of white noise under the separable 2-D filter ``kernel1d`` x ``kernel1d``: ``(sum k^2)^2``."""
    return math.fsum(k * k for k in kernel1d) ** 2


def displacement_covariance(
    inverse: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    noise_structure: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    residual_energy: torch.Tensor,
    *,
    noise_gain: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Covariance ``(xx, xy, yy)`` (px^2) of a windowed least-squares flow, each (N, 1, H, W).

    Parameters
    ----------
    inverse : tuple of torch.Tensor
        Entries ``(xx, xy, yy)`` of ``(A + lam I)^-1``, the estimator's inverted
        structure tensor (window weights summing to 1).
    noise_structure : tuple of torch.Tensor
        ``B``: ``(g~x^2, g~x g~y, g~y^2)`` summed with the window's weights squared.
    residual_energy : torch.Tensor, shape (N, 1, H, W)
        Window-averaged squared residual of the fit (pre-smoothed frames).
    noise_gain : float
        Variance gain of the pre-smoothing (:func:`noise_variance_gain`); the
        raw noise variance is ``residual_energy / noise_gain``.

    Returns
    -------
    tuple of torch.Tensor
        ``s^2 A^-1 B A^-1`` as its entries ``(xx, xy, yy)``; sqrt of xx and
        yy are the 1-sigma uncertainties of the x and y components.
    """
    ixx, ixy, iyy = inverse
    bxx, bxy, byy = noise_structure
    m11, m12 = ixx * bxx + ixy * bxy, ixx * bxy + ixy * byy  # rows of A^-1 B
    m21, m22 = ixy * bxx + iyy * bxy, ixy * bxy + iyy * byy
    variance = residual_energy / noise_gain
    return variance * (m11 * ixx + m12 * ixy), variance * (m11 * ixy + m12 * iyy), variance * (m21 * ixy + m22 * iyy)


def forward_backward_error(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Estimated error (px) of each of two opposite flows from their disagreement, (N, 1, H, W).

    ``forward`` maps ref to moving (``moving(p + forward(p)) = ref(p)``),
    ``backward`` maps moving to ref. For consistent flows
    ``forward(p) + backward(p + forward(p)) = 0``; the returned value is half
    the RMS over x and y of that sum, the per-component error of one flow if
    both err independently.
    """
    loop = forward + warp(backward, forward, interpolation="bilinear")
    return loop.pow(2).mean(dim=1, keepdim=True).sqrt() / math.sqrt(2.0)


def confidence_from_error(error: torch.Tensor, tolerance: float) -> torch.Tensor:
    """Map a predicted error (px) to a confidence in [0, 1]: ``1 / (1 + (error / tolerance)^2)``.

    Raises
    ------
    ValueError
        If ``tolerance`` is not positive.
    """
    _check_tolerance(tolerance)
    return 1.0 / (1.0 + (error / tolerance) ** 2)


def error_from_confidence(confidence: torch.Tensor, tolerance: float) -> torch.Tensor:
    """The predicted error (px) a confidence stands for: the inverse of :func:`confidence_from_error`,
    ``tolerance * sqrt(1 / c - 1)``, with c clamped to [1e-6, 1] (so 1 maps to 0 and 0 to a large, finite error).

    Raises
    ------
    ValueError
        If ``tolerance`` is not positive.
    """
    _check_tolerance(tolerance)
    return tolerance * torch.sqrt((1.0 / confidence.clamp(1e-6, 1.0) - 1.0).clamp_min(0.0))


def _check_tolerance(tolerance: float) -> None:
    """Raise ValueError unless the confidence mapping's ``tolerance`` (px) is positive."""
    if tolerance <= 0:
        raise ValueError(f"tolerance must be positive (px), got {tolerance}")
