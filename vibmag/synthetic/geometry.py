"""Object outlines for :class:`~vibmag.synthetic.ObjectScene`: :class:`Ellipse` and :class:`Polygon`.

Positions are ``(y, x)`` in px, as everywhere in :mod:`vibmag.synthetic`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._common import SceneError, _finite, _set, _vector


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
    """An outline from its ``to_dict()`` form; None stays None (the background has no outline)."""
    if data is None:
        return None
    if data["kind"] == "ellipse":
        return Ellipse(tuple(data["center"]), tuple(data["radii"]), data["angle"])
    return Polygon(tuple(tuple(vertex) for vertex in data["vertices"]))
