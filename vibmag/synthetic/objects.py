"""Textured objects over a textured background, in the style of Oh et al. 2018 (METHOD.md section 4).

:class:`Layer` is one rigidly moving textured layer, :class:`ObjectScene` a
background layer plus depth-ordered object layers, and :func:`object_scene`
draws outlines, textures and motions from a seed and renders the recording.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ._common import (
    _GEOMETRY_STREAM,
    _MOTION_STREAM,
    SceneError,
    _count,
    _format_hz,
    _frame_shape,
    _positive_hz,
    _set,
    _vector,
)
from .geometry import Ellipse, Polygon, _outline_from_dict
from .motion import Mode, Motion
from .sampling import _pixel_grid, _sample_grid
from .scene import _Magnification, _Scene
from .texture import SpeckleTexture


@dataclass(frozen=True)
class Layer:
    """One textured layer of an :class:`ObjectScene` moving rigidly.

    Parameters
    ----------
    texture : SpeckleTexture
    motion : Motion
        Rigid modes and drift only (objects translate, they do not deform).
    outline : Ellipse or Polygon, optional
        The object's outline at rest; None for the background (fills the frame).
    """

    texture: SpeckleTexture
    motion: Motion = Motion()
    outline: Ellipse | Polygon | None = None

    def __post_init__(self):
        if not self.motion.is_rigid:
            raise SceneError("object and background motion must be rigid: use modes with shape='rigid'")

    def to_dict(self) -> dict:
        outline = None if self.outline is None else self.outline.to_dict()
        return {"texture": self.texture.to_dict(), "motion": self.motion.to_dict(), "outline": outline}

    @classmethod
    def from_dict(cls, data: dict) -> Layer:
        texture, motion = SpeckleTexture.from_dict(data["texture"]), Motion.from_dict(data["motion"])
        return cls(texture, motion, _outline_from_dict(data["outline"]))


@dataclass(frozen=True, kw_only=True)
class ObjectScene(_Scene):
    """A textured background with depth-ordered textured objects, each moving rigidly.

    Parameters
    ----------
    shape, n_frames, frame_rate, noise, bit_depth, seed, supersample, pixel_size
        Keyword-only, as in :func:`vibrating_plate` (but 2 frames at 30 Hz by default).
    background : Layer
        Without an outline; fills the frame.
    objects : sequence of Layer
        With outlines, bottom first: a later object covers an earlier one.
    """

    n_frames: int = 2
    frame_rate: str = "30 Hz"
    background: Layer = Layer(SpeckleTexture())
    objects: tuple[Layer, ...] = ()

    kind = "object_scene"

    def __post_init__(self):
        super().__post_init__()
        if self.background.outline is not None:
            raise SceneError("the background layer must have no outline (it fills the frame)")
        objects = tuple(self.objects)
        if any(layer.outline is None for layer in objects):
            raise SceneError("every object layer needs an outline (Ellipse or Polygon)")
        _set(self, "objects", objects)

    def _layer_motions(self) -> dict:
        return {"background": self.background.motion, **{index: layer.motion for index, layer in enumerate(self.objects)}}

    def _component_parts(self, name) -> set:
        names = ["background", *range(len(self.objects))]
        if name not in names:
            raise SceneError(f"unknown component {name!r}: this scene's components are {names}")
        return {(name, part) for part in self._layer_motions()[name].part_names}

    def _offsets(self, t: float, magnification: _Magnification) -> dict:
        """Layer name -> its (magnified) translation (dx, dy) px at time ``t``."""
        t0, offsets = self.times[0], {}
        for name, motion in self._layer_motions().items():
            dx, dy = motion.field(0.0, 0.0, t, self.shape)
            parts = magnification.parts(name)
            if parts and not magnification.is_identity:
                sx1, sy1 = motion.field(0.0, 0.0, t, self.shape, parts=parts)
                sx0, sy0 = motion.field(0.0, 0.0, t0, self.shape, parts=parts)
                dx, dy = dx + (magnification.alpha - 1.0) * (sx1 - sx0), dy + (magnification.alpha - 1.0) * (sy1 - sy0)
            offsets[name] = (float(dx), float(dy))
        return offsets

    def _top_layer(self, y: np.ndarray, x: np.ndarray, offsets: dict) -> np.ndarray:
        """Index of the topmost object covering each image point (y, x), -1 for the background."""
        top = np.full(y.shape, -1, dtype=np.intp)
        for index, layer in enumerate(self.objects):
            dx, dy = offsets[index]
            top[layer.outline.contains(y - dy, x - dx)] = index
        return top

    def layer_map(self, frame: int = 0) -> np.ndarray:
        """Which layer each pixel centre shows in ``frame`` (recorded motion): (y, x) int, -1 background."""
        offsets = self._offsets(self.times[frame], _Magnification())
        return self._top_layer(*np.broadcast_arrays(*_pixel_grid(self.shape)), offsets)

    def _render_samples(self, t: float, magnification: _Magnification) -> np.ndarray:
        y, x = np.broadcast_arrays(*_sample_grid(self.shape, self.supersample))
        offsets = self._offsets(t, magnification)
        top = self._top_layer(y, x, offsets)
        values = np.empty(y.shape)
        for index, layer in enumerate((self.background, *self.objects), start=-1):
            dx, dy = offsets["background" if index < 0 else index]
            shown = top == index
            values[shown] = layer.texture(y[shown] - dy, x[shown] - dx)
        return values

    def _reference_displacement(self, t: float, magnification: _Magnification) -> np.ndarray:
        top = self.layer_map(0)
        now, then = self._offsets(t, magnification), self._offsets(self.times[0], magnification)
        displacement = np.empty((2, *self.shape))
        for index in range(-1, len(self.objects)):
            name = "background" if index < 0 else index
            shown = top == index
            displacement[0][shown] = now[name][0] - then[name][0]
            displacement[1][shown] = now[name][1] - then[name][1]
        return displacement

    def to_dict(self) -> dict:
        layers = {"background": self.background.to_dict(), "objects": [layer.to_dict() for layer in self.objects]}
        return {**super().to_dict(), **layers}

    @classmethod
    def from_dict(cls, data: dict) -> ObjectScene:
        return cls(
            **cls._common_from_dict(data),
            background=Layer.from_dict(data["background"]),
            objects=tuple(Layer.from_dict(layer) for layer in data["objects"]),
        )


# --------------------------------------------------------------------------- the builder and its random draws


def object_scene(
    shape=(128, 128),
    *,
    n_frames: int = 2,
    n_objects: int = 4,
    motion=None,
    background_motion=None,
    frame_rate="30 Hz",
    noise: float = 0.0,
    bit_depth: int | None = None,
    seed: int = 0,
    supersample: int = 4,
    pixel_size=None,
) -> xr.Dataset:
    """Textured objects moving over a textured background (Oh et al. 2018 style).

    Object outlines (ellipses and star-shaped polygons), textures and depth
    order are drawn from ``seed``.

    Parameters
    ----------
    shape, n_frames, frame_rate, noise, bit_depth, seed, supersample, pixel_size
        As in :func:`vibrating_plate`.
    n_objects : int
        Number of foreground objects.
    motion : sequence, optional
        One motion per object, each ``(dx, dy)`` (a shift in px per frame, so
        frame 1 is shifted by it), a rigid :class:`Mode`, a sequence of
        Modes, or a :class:`Motion`. Default: random small motions, a shift
        of 0.04 to 1 px (log-uniform, random direction) for two frames, a
        rigid sinusoid of that amplitude at 5 % to 25 % of the frame rate
        for more.
    background_motion : optional
        The background's motion, same forms; default still.

    Returns
    -------
    xarray.Dataset
        As :func:`vibrating_plate`'s.
    """
    n_objects, n_frames = _count(n_objects, "n_objects", minimum=0), _count(n_frames, "n_frames", minimum=1)
    seed, rate, frame = _count(seed, "seed", minimum=0), _positive_hz(frame_rate, "frame_rate"), _frame_shape(shape)
    if motion is None:
        rng = np.random.default_rng([seed, _MOTION_STREAM])
        motions = [_random_motion(rng, n_frames, rate) for _ in range(n_objects)]
    else:
        if len(motion) != n_objects:
            raise SceneError(f"motion needs one entry per object ({n_objects}), got {len(motion)}")
        motions = [_motion_from_spec(spec, rate) for spec in motion]
    geometry = np.random.default_rng([seed, _GEOMETRY_STREAM])
    outlines = _random_outlines(geometry, frame, n_objects)
    objects = tuple(
        Layer(_random_texture(geometry, seed, stream=index + 1), layer_motion, outline)
        for index, (layer_motion, outline) in enumerate(zip(motions, outlines))
    )
    background_texture = SpeckleTexture(seed=seed, stream=0, speckle_size=4.0, mean=0.35, contrast=0.2)
    background = Layer(background_texture, _motion_from_spec(background_motion, rate))
    scene = ObjectScene(
        shape=frame,
        n_frames=n_frames,
        frame_rate=frame_rate,
        background=background,
        objects=objects,
        noise=noise,
        bit_depth=bit_depth,
        seed=seed,
        supersample=supersample,
        pixel_size=pixel_size,
    )
    return scene.render()


def _motion_from_spec(spec, rate_hz: float) -> Motion:
    """A layer's Motion from None, a per-frame shift (dx, dy), a Mode, Modes, or a Motion."""
    if spec is None:
        return Motion()
    if isinstance(spec, Motion):
        return spec
    if isinstance(spec, Mode) or (isinstance(spec, Sequence) and spec and all(isinstance(item, Mode) for item in spec)):
        return Motion(spec)
    dx, dy = _vector(spec, "an object's shift per frame")
    return Motion(drift=(dx * rate_hz, dy * rate_hz))


def _random_motion(rng: np.random.Generator, n_frames: int, rate_hz: float) -> Motion:
    """A small random rigid motion: a shift for two frames, a sinusoid for more."""
    size = math.exp(rng.uniform(math.log(0.04), math.log(1.0)))
    angle = rng.uniform(0.0, 360.0)
    if n_frames <= 2:
        return _motion_from_spec((size * math.cos(math.radians(angle)), size * math.sin(math.radians(angle))), rate_hz)
    mode = Mode(_format_hz(rng.uniform(0.05, 0.25) * rate_hz), size, direction=angle, phase=rng.uniform(0.0, 2 * math.pi))
    return Motion((mode,))


def _random_texture(rng: np.random.Generator, seed: int, *, stream: int) -> SpeckleTexture:
    """An object's texture: its own speckle size, brighter on average than the background's."""
    size, mean = rng.uniform(2.0, 5.0), rng.uniform(0.45, 0.7)
    return SpeckleTexture(seed=seed, stream=stream, speckle_size=size, mean=mean, contrast=0.25)


def _random_outlines(rng: np.random.Generator, frame_shape: tuple[int, int], count: int) -> list[Ellipse | Polygon]:
    """``count`` ellipses or polygons, radius 10 % to 25 % of the frame's size.

    Centres keep apart by at least the larger radius of each pair (up to 100
    tries each), so no object hides the centre of one below it.
    """
    extent, placed = min(frame_shape), []
    for _ in range(count):
        radius = rng.uniform(0.1, 0.25) * extent
        for _ in range(100):
            center = tuple(rng.uniform(0.5 * radius, side - 0.5 * radius) for side in frame_shape)
            if all(math.dist(center, other) >= max(radius, other_radius) for other, other_radius in placed):
                break
        placed.append((center, radius))
    return [_random_outline(rng, center, radius) for center, radius in placed]


def _random_outline(rng: np.random.Generator, center: tuple[float, float], radius: float) -> Ellipse | Polygon:
    """An ellipse, or a polygon of 3 to 7 corners around ``center`` (which it contains), of size ``radius`` px."""
    if rng.random() < 0.5:
        return Ellipse(center, (radius * rng.uniform(0.5, 1.0), radius), rng.uniform(0.0, 180.0))
    n_corners = int(rng.integers(3, 8))
    angles = (np.arange(n_corners) + rng.uniform(-0.3, 0.3, n_corners)) * (2 * np.pi / n_corners) + rng.uniform(0, 2 * np.pi)
    radii = radius * rng.uniform(0.6, 1.0, n_corners)
    return Polygon(tuple((center[0] + r * math.sin(a), center[1] + r * math.cos(a)) for a, r in zip(angles, radii)))
