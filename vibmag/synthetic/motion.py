"""Motion fields: sinusoidal vibration modes (:class:`Mode`) and their sum with a drift (:class:`Motion`).

Displacements are ``(dx, dy)`` in px at rest positions ``(y, x)`` in px and
times in s; see the conventions in :mod:`vibmag.synthetic`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Real

import numpy as np

from ..units import frequency_hz
from ._common import SceneError, _callable_name, _finite, _format_hz, _function_from_dict, _positive_hz, _set, _vector

_SHAPES = ("rigid", "bending", "bending2")
# Exact unit vectors (dx, dy) for the axis directions, so axis-aligned modes have exactly zero cross-motion.
_AXIS_VECTORS = {0.0: (1.0, 0.0), 90.0: (0.0, 1.0), 180.0: (-1.0, 0.0), 270.0: (0.0, -1.0)}


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
