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

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Integral, Real

import numpy as np
import scipy.ndimage
import xarray as xr

from .errors import VibmagError
from .recording import make_recording
from .units import frequency_hz, length_mm

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
]

# Random streams: every draw comes from numpy.random.default_rng([seed, stream, ...]).
_TEXTURE_STREAM = 1
_NOISE_STREAM = 2
_GEOMETRY_STREAM = 3
_MOTION_STREAM = 4
_TILE = 16  # texture cells per side of one independently seeded tile
_TILE_OFFSET = 2**31  # makes tile indices non-negative seed entropy
_SAMPLES_PER_CHUNK = 2**16  # texture samples evaluated at once (cache-sized)
_INVERSION_TOL = 1e-10  # px
_INVERSION_MAX_STEPS = 100
_SCENE_FORMAT = 1
_SHAPES = ("rigid", "bending", "bending2")
# Exact unit vectors (dx, dy) for the axis directions, so axis-aligned modes have exactly zero cross-motion.
_AXIS_VECTORS = {0.0: (1.0, 0.0), 90.0: (0.0, 1.0), 180.0: (-1.0, 0.0), 270.0: (0.0, -1.0)}


_set = object.__setattr__  # assigns a field of a frozen dataclass during validation


class SceneError(VibmagError, ValueError):
    """A synthetic scene's parameters are invalid, or a scene cannot be rebuilt or rendered."""


# --------------------------------------------------------------------------- small parsers


def _format_hz(hz: float) -> str:
    """A frequency in Hz as a string pint parses back to the same float."""
    return f"{hz:.17g} Hz"


def _positive_hz(value, what: str) -> float:
    """Parse a frequency (UnitError on wrong units) and require it positive."""
    hz = frequency_hz(value)
    if not hz > 0:
        raise SceneError(f"{what} must be positive, got {value!r}")
    return hz


def _finite(value, what: str, *, minimum: float | None = None) -> float:
    """``value`` as a finite float, at least ``minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise SceneError(f"{what} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise SceneError(f"{what} must be >= {minimum:g}, got {value!r}")
    return float(value)


def _count(value, what: str, *, minimum: int) -> int:
    """``value`` as an int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise SceneError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _frame_shape(shape) -> tuple[int, int]:
    """Validate a frame shape ``(height, width)`` in px."""
    try:
        height, width = shape
    except (TypeError, ValueError):
        raise SceneError(f"shape must be (height, width) in px, got {shape!r}") from None
    return _count(height, "shape height", minimum=1), _count(width, "shape width", minimum=1)


def _vector(value, what: str) -> tuple[float, float]:
    """A finite 2-vector ``(dx, dy)``."""
    try:
        dx, dy = value
    except (TypeError, ValueError):
        raise SceneError(f"{what} must be a pair (dx, dy), got {value!r}") from None
    return _finite(dx, f"{what}[0]"), _finite(dy, f"{what}[1]")


def _callable_name(function: Callable) -> str:
    """How a callable is named in JSON (it cannot be stored itself)."""
    return getattr(function, "__qualname__", repr(function))


def _function_from_dict(value, what: str):
    """Refuse to rebuild a callable that was stored by name only."""
    if isinstance(value, dict) and "callable" in value:
        raise SceneError(
            f"the scene's {what} was the Python callable {value['callable']!r}, which JSON cannot hold; "
            "keep the scene object and call its render_magnified() instead"
        )
    return value


# --------------------------------------------------------------------------- motion


@dataclass(frozen=True)
class Mode:
    """One sinusoidal vibration mode.

    The material at rest position ``X = (y, x)`` is displaced by
    ``amplitude * shape(y, x) * u * sin(2 pi frequency t + phase)`` px, with
    ``u`` the unit vector of ``direction``.

    Parameters
    ----------
    frequency : str or pint.Quantity
        ``"25 Hz"``, ``"1500 rpm"``; stored as a string in Hz.
    amplitude : float
        Peak displacement in px where the shape is 1; >= 0.
    direction : float or (dx, dy), keyword-only
        Angle in degrees from +x toward +y (image y points down; 90 is
        straight down), or a non-zero vector. Default 0 (+x).
    shape : {"rigid", "bending", "bending2"} or callable, keyword-only
        ``"rigid"``: 1 everywhere. ``"bending"``: ``sin(pi (x + 0.5) / width)``,
        the first mode of a beam simply supported at the left and right frame
        edges, peak 1 in the middle. ``"bending2"``: ``sin(2 pi (x + 0.5) /
        width)``, the second mode, +1 and -1 with a node in the middle. A
        callable takes float arrays ``(y, x)`` in px and returns the shape
        (normalise it to peak 1 yourself); scenes with callables cannot be
        stored as JSON.
    phase : float, keyword-only
        Phase in rad at t = 0.
    """

    frequency: str
    amplitude: float
    direction: float | tuple[float, float] = field(default=0.0, kw_only=True)
    shape: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = field(default="rigid", kw_only=True)
    phase: float = field(default=0.0, kw_only=True)

    def __post_init__(self):
        _set(self, "frequency", _format_hz(_positive_hz(self.frequency, "a mode's frequency")))
        _set(self, "amplitude", _finite(self.amplitude, "a mode's amplitude (px)", minimum=0.0))
        _set(self, "phase", _finite(self.phase, "a mode's phase (rad)"))
        if isinstance(self.direction, Real):
            _set(self, "direction", _finite(self.direction, "a mode's direction (degrees)"))
        else:
            vector = _vector(self.direction, "a mode's direction")
            if vector == (0.0, 0.0):
                raise SceneError("a mode's direction vector must not be zero")
            _set(self, "direction", vector)
        if not callable(self.shape) and self.shape not in _SHAPES:
            raise SceneError(f"a mode's shape must be one of {_SHAPES} or a callable (y, x) -> shape, got {self.shape!r}")

    @cached_property
    def hz(self) -> float:
        """The frequency in Hz."""
        return frequency_hz(self.frequency)

    @cached_property
    def unit_vector(self) -> tuple[float, float]:
        """The direction as a unit vector ``(dx, dy)``; exact for multiples of 90 degrees."""
        if isinstance(self.direction, tuple):
            norm = math.hypot(*self.direction)
            return self.direction[0] / norm, self.direction[1] / norm
        angle = self.direction % 360.0
        if angle in _AXIS_VECTORS:
            return _AXIS_VECTORS[angle]
        return math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def shape_values(self, y, x, frame_shape: tuple[int, int]):
        """The mode shape at rest positions ``(y, x)`` (px); a scalar for rigid modes."""
        if callable(self.shape):
            return np.asarray(self.shape(*np.broadcast_arrays(y, x)), dtype=float)
        if self.shape == "rigid":
            return 1.0
        waves = 1.0 if self.shape == "bending" else 2.0
        return np.sin(waves * np.pi * (np.asarray(x) + 0.5) / frame_shape[1])

    def displacement(self, y, x, t: float, frame_shape: tuple[int, int]):
        """Displacement ``(dx, dy)`` in px of the material at rest position ``(y, x)`` at time ``t`` (s)."""
        wave = self.amplitude * np.sin(2 * np.pi * self.hz * t + self.phase)
        along = wave * self.shape_values(y, x, frame_shape)
        ux, uy = self.unit_vector
        return along * ux, along * uy

    def to_dict(self) -> dict:
        shape = {"callable": _callable_name(self.shape)} if callable(self.shape) else self.shape
        direction = list(self.direction) if isinstance(self.direction, tuple) else self.direction
        return {
            "frequency": self.frequency,
            "amplitude": self.amplitude,
            "direction": direction,
            "shape": shape,
            "phase": self.phase,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Mode:
        direction = data["direction"]
        return cls(
            data["frequency"],
            data["amplitude"],
            direction=tuple(direction) if isinstance(direction, list) else direction,
            shape=_function_from_dict(data["shape"], "mode shape"),
            phase=data["phase"],
        )


@dataclass(frozen=True)
class Motion:
    """A motion field: a sum of modes plus an optional drift.

    Its parts are named by mode index (0, 1, ...) and ``"drift"``.

    Parameters
    ----------
    modes : sequence of Mode
    drift : (vx, vy) or callable, optional
        Linear drift in px/s, or a callable ``t (s) -> (dx, dy)`` px.
    """

    modes: tuple[Mode, ...] = ()
    drift: tuple[float, float] | Callable[[float], Sequence[float]] | None = None

    def __post_init__(self):
        modes = (self.modes,) if isinstance(self.modes, Mode) else tuple(self.modes)
        if not all(isinstance(mode, Mode) for mode in modes):
            raise SceneError(f"modes must be Mode objects, got {self.modes!r}")
        _set(self, "modes", modes)
        if self.drift is not None and not callable(self.drift):
            _set(self, "drift", _vector(self.drift, "drift (px/s)"))

    @property
    def part_names(self) -> list:
        """Names of the parts: mode indices, then ``"drift"`` when there is one."""
        return list(range(len(self.modes))) + ([] if self.drift is None else ["drift"])

    @property
    def is_rigid(self) -> bool:
        """Whether the field is the same at every position (a translation)."""
        return all(mode.shape == "rigid" for mode in self.modes)

    def field(self, y, x, t: float, frame_shape: tuple[int, int], *, parts=None):
        """Displacement ``(dx, dy)`` in px at rest positions ``(y, x)`` and time ``t`` (s).

        ``parts`` (a collection of part names) restricts the sum; default all.
        Rigid parts give scalars, which broadcast against the positions.
        """
        dx, dy = 0.0, 0.0
        for index, mode in enumerate(self.modes):
            if parts is None or index in parts:
                mx, my = mode.displacement(y, x, t, frame_shape)
                dx, dy = dx + mx, dy + my
        if self.drift is not None and (parts is None or "drift" in parts):
            sx, sy = self._drift_at(t)
            dx, dy = dx + sx, dy + sy
        return dx, dy

    def _drift_at(self, t: float) -> tuple[float, float]:
        if callable(self.drift):
            return _vector(np.asarray(self.drift(t), dtype=float).tolist(), "drift(t)")
        return self.drift[0] * t, self.drift[1] * t

    def to_dict(self) -> dict:
        if callable(self.drift):
            drift = {"callable": _callable_name(self.drift)}
        else:
            drift = None if self.drift is None else list(self.drift)
        return {"modes": [mode.to_dict() for mode in self.modes], "drift": drift}

    @classmethod
    def from_dict(cls, data: dict) -> Motion:
        drift = _function_from_dict(data["drift"], "drift")
        return cls(tuple(Mode.from_dict(mode) for mode in data["modes"]), None if drift is None else tuple(drift))


# --------------------------------------------------------------------------- texture


@dataclass(frozen=True)
class SpeckleTexture:
    """A continuous speckle texture, evaluated exactly at any float position.

    One blob per ``speckle_size`` x ``speckle_size`` px cell of an infinite
    lattice, at a uniformly random position in its cell, with a random signed
    weight ``a`` in [-1, 1] and the profile ``a (1 - r^2 / s^2)^4`` for
    ``r < s = speckle_size``, 0 beyond (a bell about ``0.8 s`` wide at half
    height, three times differentiable, needing no ``exp``; each point sees
    the blobs of the 3 x 3 cells around it).
    Intensity ``mean + contrast * tanh(sum of blobs)`` stays strictly inside
    ``(mean - contrast, mean + contrast)``. Cells come in tiles of 16 x 16, each
    drawn from ``numpy.random.default_rng([seed, 1, stream, tile_y, tile_x])``,
    so the texture is the same wherever and in whatever order it is evaluated.

    Parameters
    ----------
    seed, stream : int
        Non-negative; ``stream`` tells apart the textures of one scene.
    speckle_size : float
        Cell size in px (about the speckle diameter); > 0.
    mean, contrast : float
        Intensity centre and half-range, within [0, 1].
    """

    seed: int = 0
    stream: int = 0
    speckle_size: float = 3.0
    mean: float = 0.5
    contrast: float = 0.4
    _tiles: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # (row, col) -> tile draws

    def __post_init__(self):
        _set(self, "seed", _count(self.seed, "seed", minimum=0))
        _set(self, "stream", _count(self.stream, "texture stream", minimum=0))
        size = _finite(self.speckle_size, "speckle_size (px)")
        if size <= 0:
            raise SceneError(f"speckle_size must be positive, got {self.speckle_size!r}")
        _set(self, "speckle_size", size)
        mean, contrast = _finite(self.mean, "texture mean"), _finite(self.contrast, "texture contrast", minimum=0.0)
        if mean - contrast < 0 or mean + contrast > 1:
            raise SceneError(f"texture intensities mean +- contrast must lie in [0, 1], got {mean} +- {contrast}")
        _set(self, "mean", mean)
        _set(self, "contrast", contrast)

    def __call__(self, y, x) -> np.ndarray:
        """Intensity at positions ``(y, x)`` (float arrays in px, broadcast together), float64."""
        y, x = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(x, dtype=float))
        flat_y, flat_x = y.ravel(), x.ravel()
        blobs = np.empty(flat_y.shape)
        for start in range(0, flat_y.size, _SAMPLES_PER_CHUNK):
            chunk = slice(start, start + _SAMPLES_PER_CHUNK)
            blobs[chunk] = self._blob_sum(flat_y[chunk], flat_x[chunk])
        return (self.mean + self.contrast * np.tanh(blobs)).reshape(y.shape)

    def _blob_sum(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Sum of the blobs of the 3 x 3 cells around each point; 1-D arrays in, 1-D out."""
        if y.size == 0:
            return np.zeros(0)
        size = self.speckle_size
        row, col = np.floor(y / size).astype(np.intp), np.floor(x / size).astype(np.intp)
        row0, col0 = int(row.min()) - 1, int(col.min()) - 1
        centre_y, centre_x, weight = self._cells(row0, int(row.max()) + 2, col0, int(col.max()) + 2)
        n_cols = centre_y.shape[1]
        centre_y, centre_x, weight = centre_y.ravel(), centre_x.ravel(), weight.ravel()
        home = (row - row0) * n_cols + (col - col0)
        total = np.zeros(y.shape)
        cell, along_y, along_x = np.empty_like(home), np.empty(y.shape), np.empty(y.shape)
        for step_y in (-1, 0, 1):
            for step_x in (-1, 0, 1):
                # blob = a max(1 - |X - c|^2 / s^2, 0)^4, computed in place
                np.add(home, step_y * n_cols + step_x, out=cell)
                np.subtract(y, centre_y.take(cell), out=along_y)
                np.subtract(x, centre_x.take(cell), out=along_x)
                along_y *= along_y
                along_x *= along_x
                along_y += along_x
                np.multiply(along_y, -1.0 / (size * size), out=along_x)
                along_x += 1.0
                np.maximum(along_x, 0.0, out=along_x)
                along_x *= along_x
                along_x *= along_x
                along_x *= weight.take(cell)
                total += along_x
        return total

    def _cells(self, row0: int, row1: int, col0: int, col1: int):
        """Blob centres (y, x) in px and weights of cells ``[row0, row1) x [col0, col1)``."""
        tile_rows = range(row0 // _TILE, (row1 - 1) // _TILE + 1)
        tile_cols = range(col0 // _TILE, (col1 - 1) // _TILE + 1)
        jitter_y, jitter_x, weight = (np.empty((len(tile_rows) * _TILE, len(tile_cols) * _TILE)) for _ in range(3))
        for i, tile_row in enumerate(tile_rows):
            for j, tile_col in enumerate(tile_cols):
                block = np.s_[i * _TILE : (i + 1) * _TILE, j * _TILE : (j + 1) * _TILE]
                jitter_y[block], jitter_x[block], weight[block] = self._tile(tile_row, tile_col)
        top, left = tile_rows[0] * _TILE, tile_cols[0] * _TILE
        keep = np.s_[row0 - top : row1 - top, col0 - left : col1 - left]
        rows = np.arange(row0, row1)[:, None]
        cols = np.arange(col0, col1)[None, :]
        return (rows + jitter_y[keep]) * self.speckle_size, (cols + jitter_x[keep]) * self.speckle_size, weight[keep]

    def _tile(self, tile_row: int, tile_col: int):
        """Jitter (y, x) in cell units and weights of one 16 x 16 tile of cells (drawn once, then cached)."""
        if (tile_row, tile_col) not in self._tiles:
            entropy = [self.seed, _TEXTURE_STREAM, self.stream, tile_row + _TILE_OFFSET, tile_col + _TILE_OFFSET]
            rng, cells = np.random.default_rng(entropy), (_TILE, _TILE)
            self._tiles[tile_row, tile_col] = (rng.random(cells), rng.random(cells), rng.uniform(-1.0, 1.0, cells))
        return self._tiles[tile_row, tile_col]

    def to_dict(self) -> dict:
        names = ("seed", "stream", "speckle_size", "mean", "contrast")
        return {name: getattr(self, name) for name in names}

    @classmethod
    def from_dict(cls, data: dict) -> SpeckleTexture:
        return cls(**data)


# --------------------------------------------------------------------------- object outlines


@dataclass(frozen=True)
class Ellipse:
    """An elliptical outline.

    Parameters
    ----------
    center : (y, x)
        Centre in px.
    radii : (ry, rx)
        Semi-axes in px before rotation; > 0.
    angle : float
        Rotation in degrees of the x semi-axis toward +y.
    """

    center: tuple[float, float]
    radii: tuple[float, float]
    angle: float = 0.0

    def __post_init__(self):
        _set(self, "center", _vector(self.center, "ellipse center (y, x)"))
        radii = _vector(self.radii, "ellipse radii (ry, rx)")
        if min(radii) <= 0:
            raise SceneError(f"ellipse radii must be positive, got {self.radii!r}")
        _set(self, "radii", radii)
        _set(self, "angle", _finite(self.angle, "ellipse angle (degrees)"))

    def contains(self, y, x) -> np.ndarray:
        """Whether rest positions ``(y, x)`` (px) lie inside (boundary included)."""
        cos, sin = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        u, v = np.asarray(x) - self.center[1], np.asarray(y) - self.center[0]
        along, across = u * cos + v * sin, v * cos - u * sin
        return (along / self.radii[1]) ** 2 + (across / self.radii[0]) ** 2 <= 1.0

    def to_dict(self) -> dict:
        return {"kind": "ellipse", "center": list(self.center), "radii": list(self.radii), "angle": self.angle}


@dataclass(frozen=True)
class Polygon:
    """A polygonal outline (even-odd rule, so it may be concave).

    Parameters
    ----------
    vertices : sequence of (y, x)
        At least 3 corners in px, in order.
    """

    vertices: tuple[tuple[float, float], ...]

    def __post_init__(self):
        vertices = tuple(_vector(vertex, "polygon vertex (y, x)") for vertex in self.vertices)
        if len(vertices) < 3:
            raise SceneError(f"a polygon needs at least 3 vertices, got {len(vertices)}")
        _set(self, "vertices", vertices)

    def contains(self, y, x) -> np.ndarray:
        """Whether rest positions ``(y, x)`` (px) lie inside, by counting edge crossings."""
        y, x = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(x, dtype=float))
        inside = np.zeros(y.shape, dtype=bool)
        for (y1, x1), (y2, x2) in zip(self.vertices, self.vertices[1:] + self.vertices[:1]):
            if y1 == y2:
                continue  # a horizontal edge is never crossed by a horizontal ray
            spans = (y1 > y) != (y2 > y)
            inside ^= spans & (x < x1 + (y - y1) * (x2 - x1) / (y2 - y1))
        return inside

    def to_dict(self) -> dict:
        return {"kind": "polygon", "vertices": [list(vertex) for vertex in self.vertices]}


def _outline_from_dict(data: dict | None):
    if data is None:
        return None
    if data["kind"] == "ellipse":
        return Ellipse(tuple(data["center"]), tuple(data["radii"]), data["angle"])
    return Polygon(tuple(tuple(vertex) for vertex in data["vertices"]))


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


# --------------------------------------------------------------------------- magnification


@dataclass(frozen=True)
class _Magnification:
    """What to magnify: ``alpha`` (scalar or (y, x) map) times the ``selected`` parts.

    ``selected`` holds ``(layer, part)`` names, layer as in ``_Scene._layer_motions``.
    """

    alpha: float | np.ndarray = 1.0
    selected: frozenset = frozenset()

    @property
    def is_identity(self) -> bool:
        return not self.selected or (np.ndim(self.alpha) == 0 and self.alpha == 1.0)

    def parts(self, layer) -> set:
        return {part for name, part in self.selected if name == layer}


def _alpha_at(alpha_map: np.ndarray, y, x) -> np.ndarray:
    """The alpha map at reference positions ``(y, x)`` (px): bilinear, edge values beyond the frame."""
    y, x = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(x, dtype=float))
    return scipy.ndimage.map_coordinates(alpha_map, [y.ravel(), x.ravel()], order=1, mode="nearest").reshape(y.shape)


def _band_hz(band) -> tuple[float, float]:
    """Parse ``(low, high)`` with units into Hz."""
    try:
        low, high = band
    except (TypeError, ValueError):
        raise SceneError(f"band must be (low, high) with units, e.g. ('20 Hz', '80 Hz'), got {band!r}") from None
    low_hz, high_hz = frequency_hz(low), frequency_hz(high)
    if not 0 <= low_hz < high_hz:
        raise SceneError(f"band needs 0 <= low < high, got {band!r}")
    return low_hz, high_hz


def _scalar_alpha(alpha) -> float:
    """A scalar magnification as a finite float."""
    if np.asarray(alpha).dtype.kind not in "iuf":
        raise SceneError(f"alpha must be a number or a (y, x) map, got {alpha!r}")
    return _finite(float(alpha), "alpha")


def _component_names(components) -> list:
    """Component names as a list: indices as ints, names as strings."""
    names = [components] if isinstance(components, (str, Integral)) else list(components)
    if any(isinstance(name, bool) for name in names):
        raise SceneError(f"components are indices or names, not booleans: {components!r}")
    return [int(name) if isinstance(name, Integral) else name for name in names]


# --------------------------------------------------------------------------- scenes


def _box_filter(samples: np.ndarray, supersample: int) -> np.ndarray:
    """Average each pixel's ``supersample x supersample`` samples: (..., H*s, W*s) -> (..., H, W)."""
    *lead, rows, cols = samples.shape
    blocks = samples.reshape(*lead, rows // supersample, supersample, cols // supersample, supersample)
    return blocks.mean(axis=(-3, -1))


def _sample_grid(frame_shape: tuple[int, int], supersample: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel sample positions y (H*s, 1) and x (1, W*s), at the centres of an s x s split of each pixel.

    Convention: the grid comes as broadcastable axes, so motion fields that
    vary along x only (the named mode shapes) are evaluated and inverted on
    W*s points rather than on every sample.
    """
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    ys = (np.arange(frame_shape[0])[:, None] + offsets).ravel()
    xs = (np.arange(frame_shape[1])[:, None] + offsets).ravel()
    return ys[:, None], xs[None, :]


def _pixel_grid(frame_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre positions y (H, 1) and x (1, W), broadcastable as in :func:`_sample_grid`."""
    return np.arange(frame_shape[0], dtype=float)[:, None], np.arange(frame_shape[1], dtype=float)[None, :]


def _rest_positions(y: np.ndarray, x: np.ndarray, field: Callable, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``X + field(X) = q`` for the rest positions ``X = (y, x)`` seen at image points ``q``.

    Fixed-point iteration ``X <- q - field(X)`` until no coordinate moves by
    more than 1e-10 px; it converges wherever the field's gradient is below 1.

    Raises
    ------
    SceneError
        When it does not converge: the motion folds over and has no inverse.
    """
    dx, dy = field(y, x)
    rest_y, rest_x = y - dy, x - dx
    for _ in range(_INVERSION_MAX_STEPS):
        dx, dy = field(rest_y, rest_x)
        next_y, next_x = y - dy, x - dx
        change = max(float(np.max(np.abs(next_y - rest_y))), float(np.max(np.abs(next_x - rest_x))))
        rest_y, rest_x = next_y, next_x
        if change <= _INVERSION_TOL:
            return rest_y, rest_x
    raise SceneError(
        f"the motion has no inverse {where}: X = q - W(X) did not converge (last step {change:.3g} px). "
        "The displacement gradient must stay below 1: lower the amplitudes or alpha, or smooth the alpha map"
    )


@dataclass(frozen=True, kw_only=True)
class _Scene:
    """Parameters and behaviour shared by the synthetic scenes (frame grid, timing, sensor, output)."""

    shape: tuple[int, int] = (128, 128)
    n_frames: int = 64
    frame_rate: str = "1 kHz"
    noise: float = 0.0
    bit_depth: int | None = None
    seed: int = 0
    supersample: int = 4
    pixel_size: str | None = None

    kind = ""  # the scene's name in JSON and in the recording's source

    def __post_init__(self):
        _set(self, "shape", _frame_shape(self.shape))
        _set(self, "n_frames", _count(self.n_frames, "n_frames", minimum=1))
        _set(self, "frame_rate", _format_hz(_positive_hz(self.frame_rate, "frame_rate")))
        _set(self, "noise", _finite(self.noise, "noise (intensity sigma)", minimum=0.0))
        if self.bit_depth is not None:
            _set(self, "bit_depth", _count(self.bit_depth, "bit_depth", minimum=1))
            if self.bit_depth > 16:
                raise SceneError(f"bit_depth must be at most 16, got {self.bit_depth}")
        _set(self, "seed", _count(self.seed, "seed", minimum=0))
        _set(self, "supersample", _count(self.supersample, "supersample", minimum=1))
        if self.pixel_size is not None:
            _set(self, "pixel_size", f"{length_mm(self.pixel_size):.17g} mm")

    # -- what subclasses provide

    def _layer_motions(self) -> dict:
        """Layer name -> Motion."""
        raise NotImplementedError

    def _component_parts(self, name) -> set:
        """The ``(layer, part)`` pairs a user-facing component name selects."""
        raise NotImplementedError

    def _render_samples(self, t: float, magnification: _Magnification) -> np.ndarray:
        """Intensity at the sub-pixel samples of the frame at time ``t``, (H*s, W*s) float64."""
        raise NotImplementedError

    def _reference_displacement(self, t: float, magnification: _Magnification) -> np.ndarray:
        """Displacement (2, H, W) at time ``t`` of the material seen at each pixel centre in frame 0."""
        raise NotImplementedError

    # -- shared

    @cached_property
    def times(self) -> np.ndarray:
        """Frame times in s, (n_frames,), as in the recording's ``time`` coordinate."""
        return np.arange(self.n_frames) / frequency_hz(self.frame_rate)

    def frames(self, alpha=1.0, *, band=None, components=None) -> np.ndarray:
        """The exact frames (no noise), (time, y, x) float64 intensities in [0, 1].

        ``alpha``, ``band`` and ``components`` as in :meth:`render_magnified`;
        the defaults give the recorded motion.
        """
        magnification = self._magnification(alpha, band, components)
        return np.stack([_box_filter(self._render_samples(t, magnification), self.supersample) for t in self.times])

    def displacement(self, alpha=1.0, *, band=None, components=None) -> np.ndarray:
        """True displacement relative to frame 0, (time, 2, y, x) float64 in px, components (x, y).

        ``alpha``, ``band`` and ``components`` as in :meth:`render_magnified`;
        the defaults give the recorded motion.
        """
        magnification = self._magnification(alpha, band, components)
        return np.stack([self._reference_displacement(t, magnification) for t in self.times])

    def render(self) -> xr.Dataset:
        """The recording: ``frames`` with the scene's noise and quantisation, plus ``true_displacement``."""
        return self._dataset(self.frames(), self.displacement(), sensor=True)

    def render_magnified(self, alpha, *, band=None, components=None, noise: bool = False) -> xr.Dataset:
        """The exact magnified recording.

        The motion relative to frame 0 becomes ``alpha`` times the selected
        part plus the unselected part as recorded.

        Parameters
        ----------
        alpha : float or array-like (y, x)
            Magnification; a map (plates only) is defined on frame 0's pixel
            grid: the material seen at pixel ``p`` in frame 0 moves by
            ``alpha(p) * selected + rest``. Between pixel centres (where
            rendering needs it) the map is bilinear, edge values beyond.
        band : (low, high), optional
            Frequencies with units (``("20 Hz", "80 Hz")``): selects the modes
            whose frequency lies in ``[low, high]``. Drift is never in a band.
        components : sequence, optional
            Selects parts by name instead: mode indices and ``"drift"`` for a
            plate, object indices and ``"background"`` for an object scene.
            Without ``band`` or ``components`` all motion is magnified.
        noise : bool
            Add the scene's noise and quantisation (the same realisation as
            :meth:`render`); default: exact frames.

        Returns
        -------
        xarray.Dataset
            ``frames`` (time, y, x) float32 and ``true_displacement`` (time,
            component, y, x) px of the magnified motion; attrs as
            :meth:`render`'s plus ``alpha``, ``band``, ``components``, ``method``.
        """
        frames = self.frames(alpha, band=band, components=components)
        displacement = self.displacement(alpha, band=band, components=components)
        ds = self._dataset(frames, displacement, sensor=noise)
        ds.attrs.update(
            alpha=float(alpha) if np.ndim(alpha) == 0 else "per-pixel map",
            band="" if band is None else ", ".join(_format_hz(hz) for hz in _band_hz(band)),
            components="" if components is None else json.dumps([str(name) for name in _component_names(components)]),
            method="synthetic ground truth",
        )
        return ds

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "format": _SCENE_FORMAT,
            "shape": list(self.shape),
            "n_frames": self.n_frames,
            "frame_rate": self.frame_rate,
            "noise": self.noise,
            "bit_depth": self.bit_depth,
            "seed": self.seed,
            "supersample": self.supersample,
            "pixel_size": self.pixel_size,
        }

    def to_json(self) -> str:
        """The scene as a JSON string (what ``ds.attrs["scene"]`` holds)."""
        return json.dumps(self.to_dict())

    @staticmethod
    def _common_from_dict(data: dict) -> dict:
        keys = ("n_frames", "frame_rate", "noise", "bit_depth", "seed", "supersample", "pixel_size")
        return {"shape": tuple(data["shape"]), **{key: data[key] for key in keys}}

    def _magnification(self, alpha, band, components) -> _Magnification:
        """Validate the magnification request against this scene."""
        if band is not None and components is not None:
            raise SceneError("give band or components, not both")
        alpha = _scalar_alpha(alpha) if np.ndim(alpha) == 0 else self._alpha_map(alpha)
        if band is not None:
            low, high = _band_hz(band)
            selected = {
                (layer, index)
                for layer, motion in self._layer_motions().items()
                for index, mode in enumerate(motion.modes)
                if low <= mode.hz <= high
            }
        elif components is not None:
            selected = set().union(*(self._component_parts(name) for name in _component_names(components)))
        else:
            selected = {(layer, part) for layer, motion in self._layer_motions().items() for part in motion.part_names}
        return _Magnification(alpha, frozenset(selected))

    def _alpha_map(self, alpha) -> np.ndarray:
        """Validate a per-pixel alpha map; scenes that cannot take one refuse it."""
        raise SceneError(f"{type(self).__name__} takes a scalar alpha only")

    def _sensor(self, frames: np.ndarray) -> np.ndarray:
        """Add the scene's Gaussian noise, clip to [0, 1], and quantise to integer counts if bit_depth is set."""
        if self.noise > 0:
            frames = frames + np.random.default_rng([self.seed, _NOISE_STREAM]).normal(0.0, self.noise, frames.shape)
        frames = np.clip(frames, 0.0, 1.0)
        if self.bit_depth is None:
            return frames
        dtype = np.uint8 if self.bit_depth <= 8 else np.uint16
        return np.rint(frames * (2**self.bit_depth - 1)).astype(dtype)

    def _dataset(self, frames: np.ndarray, displacement: np.ndarray, *, sensor: bool) -> xr.Dataset:
        """Wrap frames (time, y, x) and displacement (time, 2, y, x) into the recording layout."""
        data = self._sensor(frames) if sensor else frames
        ds = make_recording(
            data,
            frame_rate=self.frame_rate,
            pixel_size=self.pixel_size,
            bit_depth=self.bit_depth if np.issubdtype(data.dtype, np.integer) else None,
            source=f"synthetic:{self.kind}",
            attrs={"scene": self.to_json()},
        )
        attrs = {"units": "px", "long_name": "true displacement", "reference": 0}
        if self.pixel_size is not None:
            attrs["pixel_size"] = ds.attrs["pixel_size"]
        ds["true_displacement"] = xr.DataArray(
            displacement, dims=("time", "component", "y", "x"), coords={"component": ["x", "y"]}, attrs=attrs
        )
        return ds


_DEFAULT_MODES = (Mode("50 Hz", 0.5, direction=90.0, shape="bending"),)


@dataclass(frozen=True, kw_only=True)
class VibratingPlate(_Scene):
    """A speckle-textured plate filling the frame, moved by modes and drift.

    Parameters
    ----------
    shape, n_frames, frame_rate, noise, bit_depth, seed, supersample, pixel_size
        Keyword-only, as in :func:`vibrating_plate`.
    modes : sequence of Mode
    drift : (vx, vy) px/s, callable t -> (dx, dy) px, or None
    speckle_size : float
        Texture cell size in px (see :class:`SpeckleTexture`).
    """

    modes: tuple[Mode, ...] = _DEFAULT_MODES
    drift: tuple[float, float] | Callable[[float], Sequence[float]] | None = None
    speckle_size: float = 3.0

    kind = "vibrating_plate"

    def __post_init__(self):
        super().__post_init__()
        motion = Motion(self.modes, self.drift)  # validates
        _set(self, "modes", motion.modes)
        _set(self, "drift", motion.drift)
        _set(self, "speckle_size", self.texture.speckle_size)

    @cached_property
    def motion(self) -> Motion:
        return Motion(self.modes, self.drift)

    @cached_property
    def texture(self) -> SpeckleTexture:
        return SpeckleTexture(seed=self.seed, speckle_size=self.speckle_size)

    def _layer_motions(self) -> dict:
        return {"plate": self.motion}

    def _component_parts(self, name) -> set:
        names = self.motion.part_names
        if name not in names:
            raise SceneError(f"unknown component {name!r}: this plate's components are {names}")
        return {("plate", name)}

    def _alpha_map(self, alpha) -> np.ndarray:
        alpha = np.asarray(getattr(alpha, "values", alpha), dtype=float)
        if alpha.shape != self.shape:
            raise SceneError(f"an alpha map must have the frame shape {self.shape} (y, x), got {alpha.shape}")
        if not np.isfinite(alpha).all():
            raise SceneError("the alpha map holds NaN or infinite values")
        return alpha

    def _field(self, t: float, magnification: _Magnification) -> Callable:
        """The (magnified) motion field at time ``t``: rest positions (y, x) -> (dx, dy) px.

        ``W'(X, t) = W(X, t) + (alpha(P(X)) - 1) (S(X, t) - S(X, 0))`` with ``S``
        the selected parts and ``P(X) = X + W(X, 0)`` where frame 0 shows ``X``.
        """
        motion, t0 = self.motion, self.times[0]
        parts = magnification.parts("plate")

        def field(y, x):
            dx, dy = motion.field(y, x, t, self.shape)
            if magnification.is_identity:
                return dx, dy
            sx1, sy1 = motion.field(y, x, t, self.shape, parts=parts)
            sx0, sy0 = motion.field(y, x, t0, self.shape, parts=parts)
            if np.ndim(magnification.alpha) == 0:
                gain = magnification.alpha - 1.0
            else:
                rx, ry = motion.field(y, x, t0, self.shape)
                gain = _alpha_at(magnification.alpha, y + ry, x + rx) - 1.0
            return dx + gain * (sx1 - sx0), dy + gain * (sy1 - sy0)

        return field

    def _render_samples(self, t: float, magnification: _Magnification) -> np.ndarray:
        y, x = _sample_grid(self.shape, self.supersample)
        rest_y, rest_x = _rest_positions(y, x, self._field(t, magnification), f"at t = {t:.6g} s")
        return self.texture(rest_y, rest_x)

    def _reference_displacement(self, t: float, magnification: _Magnification) -> np.ndarray:
        motion, t0 = self.motion, self.times[0]
        y, x = _pixel_grid(self.shape)
        rest_y, rest_x = _rest_positions(y, x, self._field(t0, _Magnification()), "in frame 0")
        dx1, dy1 = motion.field(rest_y, rest_x, t, self.shape)
        dx0, dy0 = motion.field(rest_y, rest_x, t0, self.shape)
        dx, dy = dx1 - dx0, dy1 - dy0
        if not magnification.is_identity:
            parts = magnification.parts("plate")
            sx1, sy1 = motion.field(rest_y, rest_x, t, self.shape, parts=parts)
            sx0, sy0 = motion.field(rest_y, rest_x, t0, self.shape, parts=parts)
            gain = magnification.alpha - 1.0
            dx, dy = dx + gain * (sx1 - sx0), dy + gain * (sy1 - sy0)
        return np.stack([np.broadcast_to(dx, self.shape), np.broadcast_to(dy, self.shape)]).astype(float)

    def to_dict(self) -> dict:
        motion = self.motion.to_dict()
        return {**super().to_dict(), "modes": motion["modes"], "drift": motion["drift"], "speckle_size": self.speckle_size}

    @classmethod
    def from_dict(cls, data: dict) -> VibratingPlate:
        motion = Motion.from_dict(data)
        return cls(**cls._common_from_dict(data), modes=motion.modes, drift=motion.drift, speckle_size=data["speckle_size"])


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


# --------------------------------------------------------------------------- public builders


def vibrating_plate(
    shape=(128, 128),
    *,
    n_frames: int = 64,
    frame_rate="1 kHz",
    modes=_DEFAULT_MODES,
    drift=None,
    noise: float = 0.0,
    bit_depth: int | None = None,
    seed: int = 0,
    speckle_size: float = 3.0,
    supersample: int = 4,
    pixel_size=None,
) -> xr.Dataset:
    """A recording of a vibrating speckle-textured plate with exact displacement.

    Parameters
    ----------
    shape : (height, width)
        Frame size in px.
    n_frames : int
        Number of frames.
    frame_rate : str or pint.Quantity
        Capture rate (``"1 kHz"``).
    modes : sequence of Mode
        Default: one first bending mode at 50 Hz, 0.5 px peak, along +y.
    drift : (vx, vy) or callable, optional
        Linear drift in px/s, or ``t (s) -> (dx, dy)`` px.
    noise : float
        Standard deviation of additive Gaussian noise, intensity units.
    bit_depth : int, optional
        Quantise to ``2**bit_depth`` levels (1 to 16 bits) after the noise.
    seed : int
        Seeds the texture and the noise (``numpy.random.default_rng``).
    speckle_size : float
        Speckle cell size in px.
    supersample : int
        Samples per pixel side for the box-filter integral over each pixel.
    pixel_size : str or pint.Quantity, optional
        Size of one pixel on the object (``"0.05 mm"``).

    Returns
    -------
    xarray.Dataset
        ``frames`` (time, y, x) float32 in [0, 1] as from ``open_recording``,
        ``true_displacement`` (time, component, y, x) float64 px, and
        ``attrs["scene"]``, the scene as JSON.
    """
    scene = VibratingPlate(
        shape=shape,
        n_frames=n_frames,
        frame_rate=frame_rate,
        modes=modes,
        drift=drift,
        noise=noise,
        bit_depth=bit_depth,
        seed=seed,
        speckle_size=speckle_size,
        supersample=supersample,
        pixel_size=pixel_size,
    )
    return scene.render()


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


# --------------------------------------------------------------------------- from recordings


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
