"""The vibrating plate: speckle filling the frame, moved by modes and drift.

:class:`VibratingPlate` is the scene, :func:`vibrating_plate` builds one and renders its recording.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import xarray as xr

from ._common import SceneError, _set
from .motion import Mode, Motion
from .sampling import _pixel_grid, _rest_positions, _sample_grid
from .scene import _alpha_at, _Magnification, _Scene
from .texture import SpeckleTexture


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
