"""Regions of the frame, and the motion inside them: masks, waveforms, orbits.

Convention
----------
Positions are ``(y, x)`` in the frame's pixel coordinates (the ``y`` and ``x``
coordinate values, pixel indices for a full frame): pixel ``(y, x)`` covers
``[y - 0.5, y + 0.5) x [x - 0.5, x + 0.5)`` and its centre has integer
coordinates, as in napari and ``matplotlib.imshow``. A polygon selects the
pixels whose centres lie inside it; a centre exactly on an edge counts as
inside on the top and left edges and outside on the bottom and right ones, so
the polygon with the corners of a box ``(y0, x0, y1, x1)`` selects the same
pixels as the box, ``[y0:y1, x0:x1]``.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import xarray as xr

from ._labels import accepts_quantified, require_dims
from .errors import RegionError

__all__ = ["region_mask", "region_bounds", "as_region", "region_from_text", "waveform", "orbit"]

_FORMS = ("a mask shaped like the frame {shape}, a polygon as a sequence of (y, x) vertices, "
          "or a box (y0, x0, y1, x1)")


def region_mask(ds_or_da, region=None) -> xr.DataArray:
    """A region of the frame as a float mask on the frame grid, 1 inside.

    Parameters
    ----------
    ds_or_da : xarray.Dataset or xarray.DataArray, with dims "y" and "x"
        A recording, displacement field or anything on the frame grid.
    region : None, mask, polygon or box
        * None: the whole frame.
        * mask: bool or float array or DataArray shaped (y, x) like the frame;
          float masks are kept as weights (finite, >= 0, not all zero).
        * polygon: a sequence of at least 3 ``(y, x)`` vertices, e.g. from a
          napari Shapes layer; pixels whose centres lie inside are selected.
          It may extend past the frame but must cover some pixel centre.
        * box: ``(y0, x0, y1, x1)``, half-open like the slices ``[y0:y1,
          x0:x1]``; it must lie within the frame.

    Returns
    -------
    xarray.DataArray, dims ("y", "x"), float64
        1 inside the region (or the mask's weights), 0 outside; the frame's
        ``y``/``x`` coordinates; name "region", units "1".

    Raises
    ------
    RegionError
        If a mask has the wrong shape (the message names the frame's shape),
        a box reaches outside the frame, a region selects no pixel, or the
        region has none of the forms above.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> frame = xr.DataArray(np.zeros((4, 6)), dims=("y", "x"))
    >>> region_mask(frame, (1, 2, 3, 5)).values.astype(int)
    array([[0, 0, 0, 0, 0, 0],
           [0, 0, 1, 1, 1, 0],
           [0, 0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0, 0]])
    >>> triangle = [(0, 0), (0, 6), (4, 0)]
    >>> region_mask(frame, triangle).values.astype(int)
    array([[1, 1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1, 0],
           [1, 1, 1, 0, 0, 0],
           [1, 1, 0, 0, 0, 0]])
    """
    y, x = _frame_coords(ds_or_da)
    values = _mask_values(region, y, x)
    coords = {"y": ("y", y, {"units": "px"}), "x": ("x", x, {"units": "px"})}
    return xr.DataArray(values, dims=("y", "x"), coords=coords, name="region",
                        attrs={"units": "1", "long_name": "region weight"})


def region_bounds(region, shape: tuple[int, int]) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """A region's bounding box and its pixels on a frame of ``shape`` (no coordinates needed).

    Parameters
    ----------
    region : None, mask, polygon or box
        As :func:`region_mask`.
    shape : (int, int)
        ``(H, W)`` of the frame, pixel indices as coordinates.

    Returns
    -------
    box : (y0, x0, y1, x1)
        Half-open bounding box of the selected pixels (the whole frame for None).
    inside : numpy.ndarray of bool, shape (H, W)
        The selected pixels (non-zero weights).

    Raises
    ------
    RegionError
        As :func:`region_mask`.
    """
    height, width = (int(n) for n in shape)
    inside = _mask_values(region, np.arange(height, dtype=float), np.arange(width, dtype=float)) > 0
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1), inside


def as_region(value):
    """A region given as plain values (a settings file, a CLI option) checked for its form, before any frame is known.

    Parameters
    ----------
    value : None, "all", sequence of 4 numbers, or sequence of >= 3 (y, x) pairs
        The whole frame, a box ``(y0, x0, y1, x1)`` or a polygon.

    Returns
    -------
    None, tuple of 4 numbers, or tuple of (float, float)
        None for the whole frame; a box (integral values as ints) with
        ``y0 < y1`` and ``x0 < x1``; a polygon's vertices as floats.
        Masks (arrays shaped like a frame) are returned unchanged.

    Raises
    ------
    RegionError
        For any other form, non-finite numbers or an empty box.
    """
    if value is None or (isinstance(value, str) and value == "all"):
        return None
    if isinstance(value, (np.ndarray, xr.DataArray)) and np.ndim(value) == 2 and np.shape(value)[1] != 2:
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
        if len(items) == 4 and all(_finite_real(v) for v in items):
            y0, x0, y1, x1 = (int(v) if float(v).is_integer() else float(v) for v in items)
            if not (y0 < y1 and x0 < x1):
                raise RegionError(f"a box [y0, x0, y1, x1] needs y0 < y1 and x0 < x1, got {list(items)}")
            return (y0, x0, y1, x1)
        if len(items) >= 3 and all(isinstance(v, (list, tuple, np.ndarray)) and len(v) == 2
                                   and all(_finite_real(c) for c in v) for v in items):
            return tuple((float(y), float(x)) for y, x in items)
    raise RegionError(f'expected "all", a box [y0, x0, y1, x1] or a polygon [[y, x], [y, x], [y, x], ...], got {value!r}')


def region_from_text(text: str):
    """``"all"``, ``"box:y0,x0,y1,x1"`` or ``"polygon:y,x;y,x;y,x"`` -> :func:`as_region`'s value.

    Raises
    ------
    RegionError
        Naming the accepted forms, for any other text.
    """
    kind, _, values = text.strip().partition(":")
    try:
        if kind == "all" and not values:
            return None
        if kind == "box":
            return as_region([float(v) for v in values.split(",")])
        if kind == "polygon":
            return as_region([[float(v) for v in pair.split(",")] for pair in values.split(";")])
    except (ValueError, RegionError):
        pass
    raise RegionError(f"a region is all, box:y0,x0,y1,x1 or polygon:y,x;y,x;y,x; got {text!r}")


def _finite_real(value) -> bool:
    return isinstance(value, (Real, np.number)) and not isinstance(value, (bool, np.bool_)) and np.isfinite(value)


@accepts_quantified
def waveform(disp: xr.DataArray, *, region=None, point=None) -> xr.DataArray:
    """The motion over time at a point, or averaged over a region.

    Parameters
    ----------
    disp : xarray.DataArray, dims ("time", ..., "y", "x")
        Displacement (time, component, y, x) in px or mm, or any field on the
        frame grid.
    region : optional
        A region as in :func:`region_mask`; the waveform is the (weighted) mean
        over it. Default: the whole frame.
    point : (y, x), optional
        A pixel (its coordinates; the nearest pixel centre is taken). Exclusive
        with ``region``.

    Returns
    -------
    xarray.DataArray, dims ("time", ...)
        E.g. (time, component), in the input's units, attrs kept; ``point``
        also records the pixel as attrs ``point_y``, ``point_x``.

    Raises
    ------
    RegionError
        If both ``region`` and ``point`` are given, or the point is outside the frame.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> disp = xr.DataArray(np.ones((5, 2, 4, 4)), dims=("time", "component", "y", "x"),
    ...                     coords={"component": ["x", "y"]}, attrs={"units": "px"})
    >>> waveform(disp, point=(1, 2)).dims
    ('time', 'component')
    >>> float(waveform(disp, region=(0, 0, 2, 2)).sel(component="y")[0])
    1.0
    """
    require_dims(disp, ("time", "y", "x"), "waveform")
    if point is not None:
        if region is not None:
            raise RegionError("give either region= or point=, not both")
        iy, ix = point_index(disp, point)
        wave = disp.isel(y=iy, x=ix, drop=True)
        return wave.assign_attrs(point_y=float(disp["y"][iy]) if "y" in disp.coords else iy,
                                 point_x=float(disp["x"][ix]) if "x" in disp.coords else ix)
    mask = region_mask(disp, region)
    cropped, weights = crop_to_mask(disp, mask)
    return cropped.weighted(weights).mean(("y", "x"), keep_attrs=True)


def orbit(disp: xr.DataArray, *, region=None, point=None) -> xr.Dataset:
    """The orbit at a point or over a region: x and y displacement over time.

    Parameters
    ----------
    disp : xarray.DataArray, dims ("time", "component", "y", "x")
        Displacement with ``component`` = ["x", "y"].
    region, point
        As in :func:`waveform`.

    Returns
    -------
    xarray.Dataset
        Variables ``x`` and ``y``, dims ("time",), in the displacement's units;
        plot y against x (y down) to see the orbit, e.g. with
        :func:`vibmag.viz.plot_orbit`. Band-pass ``disp`` first to see the
        orbit of one mode.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(100) / 100.0
    >>> circle = np.stack([np.cos(2 * np.pi * 5 * t), np.sin(2 * np.pi * 5 * t)], axis=1)
    >>> disp = xr.DataArray(circle[:, :, None, None] * np.ones((1, 1, 3, 3)),
    ...                     dims=("time", "component", "y", "x"), coords={"component": ["x", "y"]},
    ...                     attrs={"units": "px"})
    >>> path = orbit(disp, point=(1, 1))
    >>> sorted(path.data_vars), path["x"].attrs["units"]
    (['x', 'y'], 'px')
    """
    require_dims(disp, ("time", "component", "y", "x"), "orbit")
    wave = waveform(disp, region=region, point=point)
    return xr.Dataset({c: wave.sel(component=c, drop=True) for c in ("x", "y")}, attrs=wave.attrs)


def crop_to_mask(da: xr.DataArray, mask: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """``da`` and ``mask`` cropped to the bounding box of the mask's non-zero pixels."""
    rows = np.flatnonzero(mask.values.any(axis=1))
    cols = np.flatnonzero(mask.values.any(axis=0))
    window = {"y": slice(rows[0], rows[-1] + 1), "x": slice(cols[0], cols[-1] + 1)}
    weights = mask.isel(window).drop_vars([d for d in ("y", "x") if d not in da.coords])
    return da.isel(window), weights


def _frame_coords(ds_or_da) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x) of the frame grid."""
    if not isinstance(ds_or_da, (xr.Dataset, xr.DataArray)):
        raise RegionError(f"region_mask needs a Dataset or DataArray on the frame grid, got {type(ds_or_da).__name__}")
    if not {"y", "x"} <= set(ds_or_da.dims):
        raise RegionError(f"region_mask needs dims 'y' and 'x'; the data has dims {tuple(ds_or_da.dims)}")
    return tuple(
        np.asarray(ds_or_da[d].values, dtype=float) if d in ds_or_da.coords else np.arange(ds_or_da.sizes[d], dtype=float)
        for d in ("y", "x")
    )


def _mask_values(region, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Dispatch on the region's form; return float weights shaped (len(y), len(x))."""
    shape = (len(y), len(x))
    if region is None:
        return np.ones(shape)
    if isinstance(region, xr.DataArray):
        if set(region.dims) != {"y", "x"}:
            raise RegionError(f"a mask DataArray needs dims ('y', 'x') shaped like the frame {shape}, got dims {region.dims}")
        return _check_mask(region.transpose("y", "x").values, shape)
    try:
        values = np.asarray(region)
    except ValueError as exc:
        raise RegionError(f"region must be {_FORMS.format(shape=shape)}; got {region!r}") from exc
    if values.dtype == bool or (values.ndim == 2 and values.shape == shape):
        return _check_mask(values, shape)
    if values.ndim == 1 and values.size == 4 and _all_real(values):
        return _box_mask(values, y, x)
    if values.ndim == 2 and values.shape[1] == 2 and values.shape[0] >= 3 and _all_real(values):
        return _polygon_mask(values.astype(float), y, x)
    if values.ndim == 2:
        raise RegionError(f"a mask must be shaped like the frame {shape} and a polygon (n >= 3, 2); "
                          f"got an array shaped {values.shape}")
    raise RegionError(f"region must be {_FORMS.format(shape=shape)}; got {region!r}")


def _all_real(values: np.ndarray) -> bool:
    return values.dtype != bool and all(isinstance(v, Real) for v in values.ravel().tolist())


def _check_mask(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A bool or float mask as float weights; refuse wrong shapes, NaN, negatives, all zeros."""
    if values.shape != shape:
        raise RegionError(f"the mask is shaped {values.shape}, expected the frame's shape (y, x) = {shape}")
    weights = values.astype(float)
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise RegionError("mask weights must be finite and >= 0")
    if not weights.any():
        raise RegionError("the mask selects no pixel (all zero)")
    return weights


def _box_mask(box: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Half-open box (y0, x0, y1, x1) in pixel coordinates -> 0/1 mask."""
    y0, x0, y1, x1 = (float(v) for v in box)
    y_lo, y_hi, x_lo, x_hi = y.min(), y.max() + 1, x.min(), x.max() + 1
    if not (y_lo <= y0 < y1 <= y_hi and x_lo <= x0 < x1 <= x_hi):
        raise RegionError(
            f"box (y0, x0, y1, x1) = {tuple(box.tolist())} does not lie within the frame: need "
            f"{y_lo:g} <= y0 < y1 <= {y_hi:g} and {x_lo:g} <= x0 < x1 <= {x_hi:g} (frame shape {len(y), len(x)})"
        )
    inside = ((y >= y0) & (y < y1))[:, None] & ((x >= x0) & (x < x1))[None, :]
    if not inside.any():
        raise RegionError(f"box {tuple(box.tolist())} selects no pixel centre of the frame")
    return inside.astype(float)


def _polygon_mask(vertices: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Pixels whose centres lie inside the polygon (even-odd rule, top/left edges inside)."""
    inside = np.zeros((len(y), len(x)), dtype=bool)
    py, px = y[:, None], x[None, :]
    for (ya, xa), (yb, xb) in zip(vertices, np.roll(vertices, -1, axis=0)):
        spans = (ya > py) != (yb > py)
        if not spans.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = xa + (xb - xa) * (py - ya) / (yb - ya)
        inside ^= spans & (px < x_cross)
    if not inside.any():
        raise RegionError(f"the polygon selects no pixel centre of the frame (frame shape {len(y), len(x)})")
    return inside.astype(float)


def point_index(da: xr.DataArray, point) -> tuple[int, int]:
    """Indices of the pixel nearest to ``point`` = (y, x); RegionError outside the frame."""
    if not (isinstance(point, (tuple, list, np.ndarray)) and len(point) == 2
            and all(isinstance(v, Real) for v in point)):
        raise RegionError(f"point must be a (y, x) pair of pixel coordinates, got {point!r}")
    y, x = _frame_coords(da)
    iy, ix = (int(np.argmin(np.abs(c - float(v)))) for c, v in zip((y, x), point))
    if abs(y[iy] - point[0]) > 0.5 or abs(x[ix] - point[1]) > 0.5:
        raise RegionError(f"point (y, x) = {tuple(point)} lies outside the frame "
                          f"(y from {y.min():g} to {y.max():g}, x from {x.min():g} to {x.max():g})")
    return iy, ix
