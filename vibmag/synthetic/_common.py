"""The ground floor of :mod:`vibmag.synthetic`: its error, its random streams and the small parsers.

Every other module of the package validates its parameters with these
functions, so a wrong value raises :class:`SceneError` with the same wording
wherever it is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real

from ..errors import VibmagError
from ..units import frequency_hz

# Random streams: every draw comes from numpy.random.default_rng([seed, stream, ...]).
_TEXTURE_STREAM = 1
_NOISE_STREAM = 2
_GEOMETRY_STREAM = 3
_MOTION_STREAM = 4

_set = object.__setattr__  # assigns a field of a frozen dataclass during validation


class SceneError(VibmagError, ValueError):
    """A synthetic scene's parameters are invalid, or a scene cannot be rebuilt or rendered."""


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
