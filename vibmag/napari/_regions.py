"""Regions drawn in napari (Shapes or Labels layers) as masks on a recording's frame, with no Qt.

Shapes: the selected shapes of the layer, or all of them when none is
selected; rectangles and polygons by their vertices, ellipses by a 64-gon
through their outline; lines and paths enclose nothing and are skipped. Each
shape's vertices are mapped from the Shapes layer's data coordinates to the
image's pixels through world coordinates, then :func:`vibmag.region_mask`
selects the pixels whose centres lie inside; the region is their union.

Labels: every non-zero label (over all time steps when the labels layer has
a time axis). The labels layer must lie on the image's pixel grid, as one
made with napari's "new labels layer" button over the image does.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

import vibmag

__all__ = ["region_from_layer", "bounding_box"]

_ELLIPSE_VERTICES = 64
_AREA_TYPES = ("rectangle", "polygon", "ellipse")


def region_from_layer(region_layer, image, ds: xr.Dataset) -> np.ndarray | None:
    """A boolean (y, x) mask on ``ds``'s frame from a Shapes or Labels layer; None for no layer.

    Parameters
    ----------
    region_layer : napari.layers.Shapes or napari.layers.Labels or None
    image : napari.layers.Image
        The layer showing ``ds``, whose data <-> world transform maps the shapes onto its pixels.
    ds : xarray.Dataset
        The recording.

    Raises
    ------
    ValueError
        No closed shape in a Shapes layer, a Labels layer off the image's grid, or empty labels.
    vibmag.RegionError
        A shape that covers no pixel centre.
    """
    if region_layer is None:
        return None
    kind = type(region_layer).__name__
    if kind == "Shapes":
        return _shapes_mask(region_layer, image, ds)
    if kind == "Labels":
        return _labels_mask(region_layer, image, ds)
    raise ValueError(f"a region comes from a Shapes or Labels layer, not a {kind} layer ({region_layer.name!r})")


def bounding_box(mask: np.ndarray | None) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1), half-open, of a mask's True pixels; None for None."""
    if mask is None:
        return None
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _shapes_mask(layer, image, ds) -> np.ndarray:
    chosen = sorted(layer.selected_data) or range(len(layer.data))
    polygons = [
        _to_image_pixels(_outline(layer.data[i], layer.shape_type[i]), layer, image)
        for i in chosen
        if layer.shape_type[i] in _AREA_TYPES
    ]
    if not polygons:
        raise ValueError(
            f"Shapes layer {layer.name!r} holds no rectangle, polygon or ellipse"
            f"{' among the selected shapes' if layer.selected_data else ''}; draw one around the region"
        )
    masks = [vibmag.region_mask(ds, polygon).values > 0.5 for polygon in polygons]
    return np.logical_or.reduce(masks)


def _outline(vertices: np.ndarray, shape_type: str) -> np.ndarray:
    """Vertices of a shape's outline in its layer's data coordinates (last two dims are y, x)."""
    vertices = np.asarray(vertices, dtype=float)
    if shape_type != "ellipse":
        return vertices
    # napari stores an ellipse as the 4 corners of its (possibly rotated) bounding box, in order.
    centre = vertices.mean(axis=0)
    half_a = (vertices[1] + vertices[2]) / 2 - centre
    half_b = (vertices[0] + vertices[1]) / 2 - centre
    angles = np.linspace(0.0, 2.0 * np.pi, _ELLIPSE_VERTICES, endpoint=False)[:, None]
    return centre + np.cos(angles) * half_a + np.sin(angles) * half_b


def _to_image_pixels(vertices: np.ndarray, layer, image) -> np.ndarray:
    """(n, 2) (y, x) pixel coordinates in ``image`` of vertices in ``layer``'s data coordinates.

    Convention: rounded to 0.001 px, so a vertex placed on a pixel centre in
    world units (4.8 mm with 0.1 mm pixels) stays on it despite round-off
    (napari stores vertices as float32), and the edge rule of
    :func:`vibmag.region_mask` applies.
    """
    pixels = np.array([image.world_to_data(layer.data_to_world(v))[-2:] for v in vertices], dtype=float)
    return np.round(pixels, 3)


def _labels_mask(layer, image, ds) -> np.ndarray:
    frame = (ds.sizes["y"], ds.sizes["x"])
    data = np.asarray(layer.data)
    same_grid = (
        data.shape[-2:] == frame
        and np.allclose(layer.scale[-2:], image.scale[-2:])
        and np.allclose(layer.translate[-2:], image.translate[-2:])
    )
    if not same_grid:
        raise ValueError(
            f"Labels layer {layer.name!r} (shape {data.shape}, scale {tuple(layer.scale)}) is not on the image's pixel "
            f"grid (frame {frame}, scale {tuple(image.scale)}); make it with napari's new-labels button over the image"
        )
    inside = data != 0
    if inside.ndim > 2:
        inside = inside.reshape(-1, *frame).any(axis=0)
    if not inside.any():
        raise ValueError(f"Labels layer {layer.name!r} is empty; paint the region first")
    return vibmag.region_mask(ds, inside).values > 0.5
