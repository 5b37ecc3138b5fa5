"""Where a scene's motion changes: distance of every pixel from the motion outlines (:func:`outline_distance`).

Errors of windowed estimators gather at the outlines of moving objects, so
benchmarks and tests score the flow (and its stated uncertainty) by distance
from them; the outlines come from the exact displacement, not from the frames.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

__all__ = ["outline_distance"]


def outline_distance(true_displacement, *, threshold: float = 0.05) -> np.ndarray:
    """Per frame, the distance (px) of every pixel from the nearest outline of the motion.

    Parameters
    ----------
    true_displacement : array-like, (T, 2, H, W) or (2, H, W)
        The exact displacement, px (``ds["true_displacement"]`` of a scene).
    threshold : float
        A pixel lies on an outline where the changes of the displacement from
        its left and its upper neighbour, summed over x and y, exceed this (px).

    Returns
    -------
    numpy.ndarray, (T, H, W) or (H, W)
        Euclidean distance in px (0 on the outline pixels); every pixel
        ``inf`` in a frame without any outline.
    """
    truth = np.asarray(true_displacement, dtype=float)
    if truth.ndim == 3:
        return outline_distance(truth[None], threshold=threshold)[0]
    if truth.ndim != 4 or truth.shape[1] != 2:
        raise ValueError(f"true_displacement must be shaped (T, 2, H, W) or (2, H, W), got {truth.shape}")
    change = (np.abs(np.diff(truth, axis=-1, prepend=truth[..., :1])).sum(1)
              + np.abs(np.diff(truth, axis=-2, prepend=truth[..., :1, :])).sum(1))
    return np.stack([_distance(frame > threshold) for frame in change])


def _distance(outline: np.ndarray) -> np.ndarray:
    """(H, W) px from the True pixels of ``outline``; inf everywhere without any."""
    if not outline.any():
        return np.full(outline.shape, np.inf)
    return scipy.ndimage.distance_transform_edt(~outline)
