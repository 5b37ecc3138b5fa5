"""Recordings as napari layers and back, with no Qt.

A recording (:func:`vibmag.open_recording`'s Dataset) becomes an Image layer
whose first axis is time: layer ``scale`` is ``(1 / frame rate, pixel size,
pixel size)`` and ``units`` ``("s", "mm", "mm")`` when the pixel size is known,
``(1 / frame rate, 1, 1)`` and ``("s", "px", "px")`` otherwise. The
recording's attrs travel in ``layer.metadata["vibmag"]``.

Going back (:func:`recording_from_layer`), the layer's *scale and units* are
the truth: a user who corrects a video's playback rate by setting the layer's
time scale gets that rate. Layers from other readers work too, as long as their
first axis is time with a time unit.

Convention: coordinates handed to vibmag are the image's own pixel indices
``(y, x)``; shapes and clicks are mapped there through the layers' data <->
world transforms (scale, translate, rotate, ...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import xarray as xr

import vibmag
from vibmag.units import ureg

__all__ = [
    "METADATA_KEY",
    "layer_data_tuple",
    "layer_kwargs",
    "recording_from_layer",
    "recording_from_layer_data",
    "result_layer_kwargs",
    "image_pixel",
]

#: Key of ``layer.metadata`` holding the recording's attrs (frame rate, pixel size, header, provenance).
METADATA_KEY = "vibmag"
#: Gap between side-by-side layers, as a fraction of the frame width.
SIDE_BY_SIDE_GAP = 0.05


def layer_kwargs(ds: xr.Dataset, name: str) -> dict:
    """Keyword arguments of ``napari.layers.Image`` for a recording.

    Parameters
    ----------
    ds : xarray.Dataset
        A recording (frames (time, y, x[, channel])).
    name : str
        Layer name.

    Returns
    -------
    dict
        ``name``, ``scale``, ``units``, ``axis_labels``, ``metadata``
        (``{"vibmag": attrs}``), ``contrast_limits`` (the first frame's range)
        and ``rgb`` or ``colormap``.
    """
    rate = vibmag.frame_rate_hz(ds)
    size = vibmag.pixel_size_mm(ds)
    spatial, unit = ((size, size), "mm") if size else ((1.0, 1.0), "px")
    frames = ds["frames"]
    first = np.asarray(frames.isel(time=0).values, dtype=np.float32)
    low, high = float(first.min()), float(first.max())
    kwargs = {
        "name": name,
        "scale": (1.0 / rate, *spatial),
        "units": ("s", unit, unit),
        "axis_labels": ("time", "y", "x"),
        "metadata": {METADATA_KEY: dict(ds.attrs)},
        "contrast_limits": (low, high) if high > low else (0.0, 1.0),
    }
    if frames.ndim == 4:
        kwargs["rgb"] = True
    else:
        kwargs["colormap"] = "gray"
    return kwargs


def layer_data_tuple(ds: xr.Dataset, name: str) -> tuple:
    """``(data, kwargs, "image")`` for a recording: what readers and sample data return.

    Colour recordings with 1 or 2 channels (not RGB/RGBA) keep their first channel.
    """
    frames = ds["frames"]
    if frames.ndim == 4 and frames.sizes["channel"] not in (3, 4):
        ds = ds.assign(frames=frames.isel(channel=0, drop=True))
    return ds["frames"].data, layer_kwargs(ds, name), "image"


def recording_from_layer(layer) -> xr.Dataset:
    """The recording shown by a napari Image layer whose first axis is time.

    Raises
    ------
    ValueError
        If the layer has no time axis (fewer than 3 dims) or its time axis has
        no time unit and its metadata no frame rate.
    """
    state = {"scale": layer.scale, "units": layer.units, "metadata": layer.metadata, "name": layer.name,
             "rgb": getattr(layer, "rgb", False)}
    return recording_from_layer_data(layer.data, state)


def recording_from_layer_data(data, state: Mapping) -> xr.Dataset:
    """Like :func:`recording_from_layer` for layer data and its state (what napari hands writers)."""
    if getattr(data, "ndim", 0) != (4 if state.get("rgb") else 3):
        raise ValueError(
            f"layer {state.get('name', '')!r} has shape {getattr(data, 'shape', None)}; vibmag needs a recording "
            "with a time axis first: (time, y, x), or (time, y, x, RGB)"
        )
    attrs = dict((state.get("metadata") or {}).get(METADATA_KEY, {}))
    scale = np.asarray(state.get("scale", np.ones(data.ndim)), dtype=float)
    units = [str(u) for u in state.get("units") or ["pixel"] * len(scale)]
    rate = _frame_rate(scale[0], units[0], attrs, state.get("name", ""))
    size = _pixel_size(scale[1:3], units[1:3])
    ds = vibmag.open_recording(data, frame_rate=f"{rate!r} Hz", pixel_size=None if size is None else f"{size!r} mm")
    kept = {k: v for k, v in attrs.items() if k not in ("frame_rate", "pixel_size")}
    kept.setdefault("source", state.get("name", "napari layer"))
    ds.attrs = {**kept, **{k: v for k, v in ds.attrs.items() if k != "source"}}
    return ds


def _frame_rate(step: float, unit: str, attrs: Mapping, name: str) -> float:
    """Frames per second from the time axis' scale (in a time unit), else from the metadata."""
    quantity = ureg.Quantity(float(step), unit)
    if quantity.check("[time]") and step > 0:
        return float(f"{1.0 / quantity.to('s').magnitude:.12g}")
    if "frame_rate" in attrs:
        return vibmag.units.frequency_hz(attrs["frame_rate"])
    raise ValueError(
        f"layer {name!r}: its first axis has no time unit (units {unit!r}) and it carries no frame rate; open the "
        "recording with the vibmag reader, or give the layer a time scale, e.g. layer.scale = (1 / 15000, 1, 1) "
        "with layer.units = ('s', 'px', 'px')"
    )


def _pixel_size(scale, units) -> float | None:
    """The pixel size in mm when both image axes are lengths with one scale, else None (pixels)."""
    quantities = [ureg.Quantity(float(s), u) for s, u in zip(scale, units)]
    if not all(q.check("[length]") for q in quantities):
        return None
    sizes = [q.to("mm").magnitude for q in quantities]
    if not math.isclose(sizes[0], sizes[1], rel_tol=1e-9):
        raise ValueError(f"vibmag needs square pixels; the layer's y and x scales differ: {sizes[0]} mm, {sizes[1]} mm")
    return float(f"{sizes[0]:.12g}")


def result_layer_kwargs(source, result: xr.Dataset, *, placement: str = "side by side") -> dict:
    """Image-layer kwargs for a magnified result beside or over the layer it came from.

    The result gets the source's scale, units, rotation and contrast, and the
    result's attrs (provenance: alpha, band, method, ...) as metadata. With
    ``placement="side by side"`` it is translated right by the frame width
    plus a small gap; with ``"overlay"`` it lies exactly over the source.
    """
    if placement not in ("side by side", "overlay"):
        raise ValueError(f"placement must be 'side by side' or 'overlay', got {placement!r}")
    translate = np.array(source.translate, dtype=float)
    if placement == "side by side":
        width = result.sizes["x"]
        translate[2] += (width + max(2, round(SIDE_BY_SIDE_GAP * width))) * float(source.scale[2])
    band = result.attrs.get("band")
    what = f"x{result.attrs.get('alpha_max', result.attrs.get('alpha'))}"
    if band:
        what += f" {band[0]}-{band[1]}"
    kwargs = {
        "name": f"{source.name} magnified {what} ({result.attrs.get('method')})",
        "scale": tuple(source.scale),
        "translate": tuple(translate),
        "rotate": source.rotate,
        "units": tuple(str(u) for u in source.units),
        "axis_labels": tuple(source.axis_labels),
        "metadata": {METADATA_KEY: dict(result.attrs), "magnified_from": source.name},
        "contrast_limits": tuple(source.contrast_limits),
    }
    if getattr(source, "rgb", False):
        kwargs["rgb"] = True
    else:
        kwargs["colormap"] = source.colormap.name
    return kwargs


def image_pixel(image, world_position) -> tuple[float, float]:
    """(y, x) pixel coordinates in ``image``'s frame of a point in world coordinates."""
    data = np.asarray(image.world_to_data(np.asarray(world_position, dtype=float)), dtype=float)
    return float(data[-2]), float(data[-1])
