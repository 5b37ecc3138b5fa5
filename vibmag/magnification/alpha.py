"""The per-pixel magnification map: alpha inside a region, 1 outside, with a smooth ramp between.

Every front end and both magnification paths (:func:`vibmag.magnify` and
:func:`vibmag.magnification.magnify_video`) build their alpha maps here, so a
region's edge looks the same whichever way it was magnified.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import xarray as xr

from ..errors import MagnifyError

__all__ = ["DEFAULT_TRANSITION", "alpha_grid", "region_weight", "with_region"]

#: Width (px) of the smooth alpha ramp inside a region's edge.
DEFAULT_TRANSITION = 8.0


def alpha_grid(alpha, shape: tuple[int, int]) -> np.ndarray:
    """A scalar or per-pixel alpha as a (H, W) float64 array.

    Parameters
    ----------
    alpha : float, array-like (H, W) or xarray.DataArray
        Magnification factor; 1 leaves motion as recorded.
    shape : (int, int)
        ``(H, W)`` of the frames.

    Raises
    ------
    MagnifyError
        If the map has another shape, or a value is not finite and > 0.
    """
    values = np.asarray(alpha.values if isinstance(alpha, xr.DataArray) else alpha, dtype=np.float64)
    if values.ndim not in (0, 2) or (values.ndim == 2 and values.shape != tuple(shape)):
        raise MagnifyError(f"alpha must be a number or a map shaped (y, x) = {tuple(shape)}, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise MagnifyError("alpha must be finite and > 0 everywhere (1 leaves motion as recorded)")
    return np.broadcast_to(values, tuple(shape)).copy()


def region_weight(inside: np.ndarray, transition: float = DEFAULT_TRANSITION) -> np.ndarray:
    """Weight of ``alpha - 1``: 0 outside a region, rising as a raised cosine to 1 over ``transition`` px inside its edge.

    Parameters
    ----------
    inside : numpy.ndarray of bool, shape (H, W)
        The region.
    transition : float
        Ramp width in px (0: a hard edge).

    Returns
    -------
    numpy.ndarray, shape (H, W), float64 in [0, 1]

    Convention
    ----------
    The distance is measured from the nearest outside pixel centre, so a
    pixel on the region's edge has weight ``0.5 - 0.5 cos(pi * 0.5 / transition)``.
    A region covering the whole frame has weight 1 everywhere.
    """
    if transition < 0:
        raise MagnifyError(f"transition must be >= 0 px, got {transition}")
    if not inside.any():
        raise MagnifyError("the region covers no pixel of the frame")
    if transition == 0 or inside.all():
        return inside.astype(np.float64)
    distance = scipy.ndimage.distance_transform_edt(inside)
    ramp = np.clip((distance - 0.5) / transition, 0.0, 1.0)
    return np.where(inside, 0.5 - 0.5 * np.cos(np.pi * ramp), 0.0)


def with_region(alpha: np.ndarray, inside: np.ndarray, transition: float = DEFAULT_TRANSITION) -> np.ndarray:
    """``1 + (alpha - 1) * region_weight(inside, transition)``: (H, W) float64, exactly 1 outside the region."""
    return 1.0 + (alpha - 1.0) * region_weight(inside, transition)
