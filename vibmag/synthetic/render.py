"""Scenes rebuilt from their recordings.

:func:`scene_from_json` rebuilds a scene from ``ds.attrs["scene"]``, and
:func:`render_magnified` renders a recording's exact magnified frames from it.
"""

from __future__ import annotations

import json

import xarray as xr

from ._common import SceneError
from .objects import ObjectScene
from .plate import VibratingPlate
from .scene import _SCENE_FORMAT


def scene_from_json(text: str) -> VibratingPlate | ObjectScene:
    """Rebuild a scene from ``ds.attrs["scene"]``.

    Raises
    ------
    SceneError
        On text that is not a vibmag scene, or a scene that held callables.
    """
    try:
        data = json.loads(text)
        kind = data["kind"]
    except (TypeError, ValueError, KeyError) as exc:
        raise SceneError(f"not a vibmag.synthetic scene description: {str(text)[:80]!r}") from exc
    builders = {VibratingPlate.kind: VibratingPlate, ObjectScene.kind: ObjectScene}
    if kind not in builders or data.get("format") != _SCENE_FORMAT:
        raise SceneError(f"unknown scene kind {kind!r} or format {data.get('format')!r}")
    return builders[kind].from_dict(data)


def render_magnified(ds: xr.Dataset, alpha, *, band=None, components=None, noise: bool = False) -> xr.Dataset:
    """The exact magnified version of a synthetic recording.

    Rebuilds the scene from ``ds.attrs["scene"]`` and renders it with the
    motion relative to frame 0 replaced by ``alpha`` times the selected part
    plus the rest as recorded (see :meth:`VibratingPlate.render_magnified`
    for ``alpha``, ``band``, ``components`` and ``noise``).

    Returns
    -------
    xarray.Dataset
        ``frames`` (same layout, coords and attrs as ``ds``'s) and
        ``true_displacement`` of the magnified motion.

    Raises
    ------
    SceneError
        If ``ds`` did not come from vibmag.synthetic or was cropped.
    UnitError
        If ``band`` is not a pair of frequencies.
    """
    if "scene" not in ds.attrs:
        raise SceneError("the recording has no 'scene' attribute: only vibmag.synthetic recordings can be re-rendered")
    scene = scene_from_json(ds.attrs["scene"])
    expected = (scene.n_frames, *scene.shape)
    if tuple(ds["frames"].shape) != expected:
        actual = tuple(ds["frames"].shape)
        raise SceneError(f"the recording's frames are {actual} but its scene renders {expected}; was it cropped?")
    out = scene.render_magnified(alpha, band=band, components=components, noise=noise)
    kept = {key: value for key, value in ds.attrs.items() if key not in out.attrs and key != "bit_depth"}
    out.attrs.update(kept)
    return out
