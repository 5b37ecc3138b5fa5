"""Speckle image pairs with a known uniform translation, for the optical-flow tests (:func:`shifted_pair`)."""

from __future__ import annotations

import numpy as np

from ._common import _NOISE_STREAM, _count, _finite, _frame_shape, _vector
from .sampling import _box_filter, _sample_grid
from .texture import SpeckleTexture


def shifted_pair(
    shape=(64, 64),
    shift=(0.5, 0.25),
    *,
    seed: int = 0,
    noise: float = 0.0,
    speckle_size: float = 3.0,
    supersample: int = 4,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two speckle images related by a known uniform translation, for flow tests.

    Parameters
    ----------
    shape : (height, width)
        Image size in px.
    shift : (dx, dy)
        Translation in px of ``moving``'s texture relative to ``ref``'s.
    seed, speckle_size, supersample
        As in :func:`vibrating_plate`.
    noise : float
        Gaussian noise sigma added independently to each image (then clipped to [0, 1]).
    dtype : numpy dtype
        Of the three returned arrays.

    Returns
    -------
    ref, moving : ndarray (y, x)
        Intensities in [0, 1]; ``moving(p + shift) == ref(p)``.
    true_flow : ndarray (2, y, x)
        The flow from ``ref`` to ``moving``: ``shift`` everywhere, x first.
    """
    frame = _frame_shape(shape)
    dx, dy = _vector(shift, "shift")
    _count(supersample, "supersample", minimum=1)
    noise = _finite(noise, "noise", minimum=0.0)
    texture = SpeckleTexture(seed=seed, speckle_size=speckle_size)
    y, x = _sample_grid(frame, supersample)
    images = np.stack([_box_filter(texture(y, x), supersample), _box_filter(texture(y - dy, x - dx), supersample)])
    if noise > 0:
        noise_rng = np.random.default_rng([seed, _NOISE_STREAM])
        images = np.clip(images + noise_rng.normal(0.0, noise, images.shape), 0.0, 1.0)
    flow = np.stack([np.full(frame, dx), np.full(frame, dy)])
    return images[0].astype(dtype), images[1].astype(dtype), flow.astype(dtype)
