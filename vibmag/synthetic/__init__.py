"""Synthetic recordings with exact ground-truth displacement (API.md, "Ground truth").

Every later test and benchmark (flow accuracy, spectra, magnification quality)
measures against these scenes, so rendering is analytic: a continuous texture
is evaluated at the displaced material coordinates of ``supersample**2``
sub-pixel points per pixel and averaged (box-filter integration over the
pixel). No pixel image is ever resampled, so the displacement is exact and the
only approximation is the midpoint rule of the pixel integral.

Scenes
------
:class:`VibratingPlate` (built by :func:`vibrating_plate`)
    A speckle-textured plate filling the frame, moved by sinusoidal
    :class:`Mode` s (rigid or with a bending shape) plus an optional drift.
:class:`ObjectScene` (built by :func:`object_scene`)
    Textured background plus depth-ordered textured foreground objects
    (ellipses, polygons), each with its own rigid sub-pixel motion, in the
    style of Oh et al. 2018 (METHOD.md section 4).

Both render to a recording Dataset (built by
:func:`vibmag.recording.make_recording`) plus ``true_displacement``, and store
their parameters as JSON in ``ds.attrs["scene"]`` so :func:`render_magnified`
can rebuild the scene and render the exact magnified frames.

Conventions
-----------
* Pixel ``(y, x)`` covers ``[y - 0.5, y + 0.5) x [x - 0.5, x + 0.5)``; its
  centre has the integer coordinates. Positions are given as ``(y, x)``,
  displacement vectors as ``(dx, dy)`` (components ``["x", "y"]``, y down).
* A motion field ``W(X, t)`` (px) moves the material at rest position ``X``
  to ``X + W(X, t)``. Frame ``t`` shows at image point ``q`` the texture at
  the ``X`` with ``X + W(X, t) = q``, found by fixed-point iteration
  ``X <- q - W(X, t)`` to ``1e-10`` px (it converges while the displacement
  gradient stays below 1, i.e. while the motion does not fold over).
* ``true_displacement[t, :, y, x]`` is ``W(X0, t) - W(X0, t0)`` for the
  material ``X0`` seen at the pixel centre ``(y, x)`` in the reference frame
  ``t0`` (frame 0), so ``true_displacement[0] == 0``.

Package layout
--------------
The names are imported from ``vibmag.synthetic`` itself; they live in
``motion`` (:class:`Mode`, :class:`Motion`), ``texture``
(:class:`SpeckleTexture`), ``geometry`` (:class:`Ellipse`,
:class:`Polygon`), ``plate`` (:class:`VibratingPlate`,
:func:`vibrating_plate`), ``objects`` (:class:`Layer`, :class:`ObjectScene`,
:func:`object_scene`), ``render`` (:func:`scene_from_json`,
:func:`render_magnified`), ``pair`` (:func:`shifted_pair`) and ``outlines``
(:func:`outline_distance`), on top of
``scene`` (the scene base class and the magnification request),
``sampling`` (sample grids, the pixel box filter, inverting the motion) and
``_common`` (:class:`SceneError`, the validators, the random streams).

Examples
--------
>>> from vibmag.synthetic import Mode, vibrating_plate, render_magnified
>>> ds = vibrating_plate((32, 32), n_frames=8, modes=[Mode("125 Hz", 0.3, direction=90)])
>>> ds["true_displacement"].sel(component="y", y=5, x=7).values.round(3)
array([ 0.   ,  0.212,  0.3  ,  0.212,  0.   , -0.212, -0.3  , -0.212])
>>> big = render_magnified(ds, 10.0)  # exact frames of the motion made 10 times larger
>>> round(float(big["true_displacement"].max()), 9)
3.0
"""

from __future__ import annotations

from ._common import SceneError
from .geometry import Ellipse, Polygon
from .motion import Mode, Motion
from .objects import Layer, ObjectScene, object_scene
from .outlines import outline_distance
from .pair import shifted_pair
from .plate import VibratingPlate, vibrating_plate
from .render import render_magnified, scene_from_json
from .sampling import _rest_positions  # noqa: F401  (tests check the motion inversion directly)
from .texture import SpeckleTexture

__all__ = [
    "SceneError",
    "Mode",
    "Motion",
    "SpeckleTexture",
    "Ellipse",
    "Polygon",
    "Layer",
    "VibratingPlate",
    "ObjectScene",
    "vibrating_plate",
    "object_scene",
    "render_magnified",
    "scene_from_json",
    "shifted_pair",
    "outline_distance",
]
