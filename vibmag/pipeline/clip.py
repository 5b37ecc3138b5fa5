"""A magnified clip as a video: the recording beside its magnified self, labelled.

``vibmag magnify -o OUT.mp4``, ``vibmag demo`` and the batch runner all write
their videos through :func:`write_magnified_clip`, so the label, the layout
and the time stamps agree.
"""

from __future__ import annotations

import threading
from pathlib import Path

import xarray as xr

from ..io.outputs import check_output
from ..io.video_write import WRITE_SUFFIXES, write_video
from ..progress import Progress
from ..units import ureg
from .magnifying import magnify

__all__ = ["write_magnified_clip", "clip_label", "clip_layout"]


def clip_label(method: str, alpha: float, band_hz: tuple[float, float] | None) -> str:
    """The magnified panel's label, e.g. ``"flowmag x20, 12.88 - 21.47 Hz"`` (4 significant digits)."""
    band = "all motion" if band_hz is None else f"{band_hz[0]:.4g} - {band_hz[1]:.4g} Hz"
    return f"{method} x{alpha:g}, {band}"


def clip_layout(height: int, width: int) -> dict:
    """``stack`` and ``zoom`` of :func:`vibmag.write_video` for frames of (height, width) px.

    Wide frames are stacked vertically, others side by side; frames up to 128 px are shown twice as large.
    """
    return {"stack": "vertical" if width >= 2 * height else "horizontal", "zoom": 2 if max(height, width) <= 128 else 1}


def write_magnified_clip(
    ds: xr.Dataset,
    path,
    alpha: float,
    *,
    band_hz: tuple[float, float] | None = None,
    region=None,
    method: str = "flowmag",
    reference: int = 0,
    adapt_steps: int = 0,
    flow_method: str | None = None,
    flow_options: dict | None = None,
    fps: float | None = None,
    stack: str | None = None,
    zoom: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> xr.Dataset:
    """Magnify a recording and write it beside the original as an MP4 or GIF.

    Parameters
    ----------
    ds : xarray.Dataset
        A recording (:func:`vibmag.open_recording`).
    path : path-like
        ``.mp4`` or ``.gif``.
    alpha : float
        Magnification factor.
    band_hz : (float, float), optional
        Band in Hz whose motion is magnified (None: all motion).
    region, method, reference, adapt_steps, flow_method, flow_options, progress, cancel
        As in :func:`vibmag.magnify`.
    fps : float, optional
        Playback rate (default: :func:`vibmag.write_video`'s).
    stack, zoom : optional
        Layout; default :func:`clip_layout` of the frame size.
    overwrite : bool
        Replace an existing ``path``.

    Returns
    -------
    xarray.Dataset
        The magnified recording, as :func:`vibmag.magnify` returns it.
    """
    check_output(path, suffixes=WRITE_SUFFIXES, inputs=[ds], overwrite=overwrite)  # before the work, not after
    band = None if band_hz is None else tuple(ureg.Quantity(float(edge), "Hz") for edge in band_hz)
    result = magnify(ds, alpha, band=band, region=region, method=method, reference=reference, adapt_steps=adapt_steps,
                     flow_method=flow_method, flow_options=flow_options, progress=progress, cancel=cancel)
    layout = clip_layout(ds.sizes["y"], ds.sizes["x"])
    write_video(ds, Path(path), side_by_side=result, labels=("original", clip_label(method, alpha, band_hz)), timestamp=True,
                fps=fps, stack=stack or layout["stack"], zoom=zoom or layout["zoom"], overwrite=overwrite)
    return result
