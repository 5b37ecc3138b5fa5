"""Where a frame is sampled, how samples become pixels, and how image points map back to the material.

Rendering is analytic: the texture is evaluated at the rest positions of
``supersample**2`` sub-pixel points per pixel (:func:`_sample_grid`,
inverted through the motion by :func:`_rest_positions`) and averaged over
each pixel (:func:`_box_filter`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._common import SceneError

_INVERSION_TOL = 1e-10  # px
_INVERSION_MAX_STEPS = 100


def _box_filter(samples: np.ndarray, supersample: int) -> np.ndarray:
    """Average each pixel's ``supersample x supersample`` samples: (..., H*s, W*s) -> (..., H, W)."""
    *lead, rows, cols = samples.shape
    blocks = samples.reshape(*lead, rows // supersample, supersample, cols // supersample, supersample)
    return blocks.mean(axis=(-3, -1))


def _sample_grid(frame_shape: tuple[int, int], supersample: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel sample positions y (H*s, 1) and x (1, W*s), at the centres of an s x s split of each pixel.

    Convention: the grid comes as broadcastable axes, so motion fields that
    vary along x only (the named mode shapes) are evaluated and inverted on
    W*s points rather than on every sample.
    """
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    ys = (np.arange(frame_shape[0])[:, None] + offsets).ravel()
    xs = (np.arange(frame_shape[1])[:, None] + offsets).ravel()
    return ys[:, None], xs[None, :]


def _pixel_grid(frame_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre positions y (H, 1) and x (1, W), broadcastable as in :func:`_sample_grid`."""
    return np.arange(frame_shape[0], dtype=float)[:, None], np.arange(frame_shape[1], dtype=float)[None, :]


def _rest_positions(y: np.ndarray, x: np.ndarray, field: Callable, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``X + field(X) = q`` for the rest positions ``X = (y, x)`` seen at image points ``q``.

    Fixed-point iteration ``X <- q - field(X)`` until no coordinate moves by
    more than 1e-10 px; it converges wherever the field's gradient is below 1.

    Raises
    ------
    SceneError
        When it does not converge: the motion folds over and has no inverse.
    """
    dx, dy = field(y, x)
    rest_y, rest_x = y - dy, x - dx
    for _ in range(_INVERSION_MAX_STEPS):
        dx, dy = field(rest_y, rest_x)
        next_y, next_x = y - dy, x - dx
        change = max(float(np.max(np.abs(next_y - rest_y))), float(np.max(np.abs(next_x - rest_x))))
        rest_y, rest_x = next_y, next_x
        if change <= _INVERSION_TOL:
            return rest_y, rest_x
    raise SceneError(
        f"the motion has no inverse {where}: X = q - W(X) did not converge (last step {change:.3g} px). "
        "The displacement gradient must stay below 1: lower the amplitudes or alpha, or smooth the alpha map"
    )
