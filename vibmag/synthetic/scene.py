"""What the synthetic scenes share: the magnification request and the scene base class ``_Scene``.

``_Scene`` holds the frame grid, timing and sensor parameters, renders
frames and true displacement from what a subclass provides (its layers'
motions, its sub-pixel samples, the displacement of frame 0's material), and
wraps them into the recording layout of :func:`vibmag.recording.make_recording`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from numbers import Integral

import numpy as np
import scipy.ndimage
import xarray as xr

from ..recording import make_recording
from ..units import frequency_hz, length_mm
from ._common import _NOISE_STREAM, SceneError, _count, _finite, _format_hz, _frame_shape, _positive_hz, _set
from .sampling import _box_filter

_SCENE_FORMAT = 1


# --------------------------------------------------------------------------- the magnification request


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


def _magnified_attrs(alpha, band, components) -> dict:
    """The attrs a magnified render adds: ``alpha``, ``band``, ``components`` and ``method``, as strings or a float."""
    return dict(
        alpha=float(alpha) if np.ndim(alpha) == 0 else "per-pixel map",
        band="" if band is None else ", ".join(_format_hz(hz) for hz in _band_hz(band)),
        components="" if components is None else json.dumps([str(name) for name in _component_names(components)]),
        method="synthetic ground truth",
    )


# --------------------------------------------------------------------------- sensor and output layout


def _quantise(frames: np.ndarray, bit_depth: int) -> np.ndarray:
    """Intensities in [0, 1] as integer counts of ``2**bit_depth - 1`` levels: uint8 up to 8 bits, else uint16."""
    dtype = np.uint8 if bit_depth <= 8 else np.uint16
    return np.rint(frames * (2**bit_depth - 1)).astype(dtype)


def _true_displacement(displacement: np.ndarray, pixel_size: str | None) -> xr.DataArray:
    """Displacement (time, 2, y, x) px as the recording's ``true_displacement``, components ``["x", "y"]``.

    ``pixel_size`` is the recording's ``pixel_size`` attr, copied on when set.
    """
    attrs = {"units": "px", "long_name": "true displacement", "reference": 0}
    if pixel_size is not None:
        attrs["pixel_size"] = pixel_size
    dims, coords = ("time", "component", "y", "x"), {"component": ["x", "y"]}
    return xr.DataArray(displacement, dims=dims, coords=coords, attrs=attrs)


# --------------------------------------------------------------------------- the scene base class


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
        ds.attrs.update(_magnified_attrs(alpha, band, components))
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

    # -- magnification

    def _magnification(self, alpha, band, components) -> _Magnification:
        """Validate the magnification request against this scene."""
        if band is not None and components is not None:
            raise SceneError("give band or components, not both")
        alpha = _scalar_alpha(alpha) if np.ndim(alpha) == 0 else self._alpha_map(alpha)
        return _Magnification(alpha, frozenset(self._selected_parts(band, components)))

    def _selected_parts(self, band, components) -> set:
        """The ``(layer, part)`` pairs a band or components select; all parts without either."""
        if band is not None:
            low, high = _band_hz(band)
            return {
                (layer, index)
                for layer, motion in self._layer_motions().items()
                for index, mode in enumerate(motion.modes)
                if low <= mode.hz <= high
            }
        if components is not None:
            return set().union(*(self._component_parts(name) for name in _component_names(components)))
        return {(layer, part) for layer, motion in self._layer_motions().items() for part in motion.part_names}

    def _alpha_map(self, alpha) -> np.ndarray:
        """Validate a per-pixel alpha map; scenes that cannot take one refuse it."""
        raise SceneError(f"{type(self).__name__} takes a scalar alpha only")

    # -- sensor and output

    def _sensor(self, frames: np.ndarray) -> np.ndarray:
        """Add the scene's Gaussian noise, clip to [0, 1], and quantise to integer counts if bit_depth is set."""
        if self.noise > 0:
            frames = frames + np.random.default_rng([self.seed, _NOISE_STREAM]).normal(0.0, self.noise, frames.shape)
        frames = np.clip(frames, 0.0, 1.0)
        if self.bit_depth is None:
            return frames
        return _quantise(frames, self.bit_depth)

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
        pixel_size = ds.attrs["pixel_size"] if self.pixel_size is not None else None
        ds["true_displacement"] = _true_displacement(displacement, pixel_size)
        return ds
