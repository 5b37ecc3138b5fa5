"""Ground-truth signals for the analysis tests: tones and a two-mode displacement field."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

FS = 1000.0


def tones(components, *, n=2000, fs=FS, units="px", frame_rate_attr=True) -> xr.DataArray:
    """A waveform (time,) or (time, component) of sinusoids.

    ``components`` is a list of [(amplitude, frequency_hz, phase_rad), ...]
    (one list: dims (time,)) or a dict {component: list} (dims (time, component)).
    """
    t = np.arange(n) / fs
    attrs = {"units": units, **({"frame_rate": f"{fs:g} Hz"} if frame_rate_attr else {})}

    def series(parts):
        return sum(a * np.sin(2 * np.pi * f * t + p) for a, f, p in parts)

    if isinstance(components, dict):
        values = np.stack([series(parts) for parts in components.values()], axis=1)
        return xr.DataArray(values, dims=("time", "component"),
                            coords={"time": t, "component": list(components)}, attrs=attrs, name="displacement")
    return xr.DataArray(series(components), dims="time", coords={"time": t}, attrs=attrs, name="displacement")


def amplitude_at(x: np.ndarray, f: float, *, fs=FS, keep=slice(None)) -> float:
    """Least-squares amplitude of the sinusoid at frequency f in x[keep]."""
    t = (np.arange(len(x)) / fs)[keep]
    basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t), np.ones_like(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, np.asarray(x)[keep], rcond=None)
    return float(np.hypot(coef[0], coef[1]))


class TwoModes:
    """A (time, component, y, x) displacement field of two modes with known shapes, plus noise."""

    shape_yx = (20, 28)
    n = 1000
    frequencies = (37.3, 121.7)
    amplitudes = (0.4, 0.15)
    phases = (0.3, -1.1)

    def __init__(self):
        ny, nx = self.shape_yx
        y, x = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        bend1 = np.sin(np.pi * (x + 0.5) / nx)
        bend2 = np.sin(2 * np.pi * (x + 0.5) / nx) * np.cos(np.pi * (y + 0.5) / ny)
        self.shapes = (np.stack([0.2 * bend1, bend1]), np.stack([bend2, -0.5 * bend2]))  # (component, y, x)
        t = np.arange(self.n) / FS
        values = sum(a * np.sin(2 * np.pi * f * t + p)[:, None, None, None] * s[None]
                     for a, f, p, s in zip(self.amplitudes, self.frequencies, self.phases, self.shapes))
        values = values + np.random.default_rng(0).normal(0.0, 0.01, values.shape)
        self.disp = xr.DataArray(
            values.astype(np.float32), dims=("time", "component", "y", "x"), name="displacement",
            coords={"time": ("time", t, {"units": "s"}), "component": ["x", "y"],
                    "y": ("y", np.arange(ny), {"units": "px"}), "x": ("x", np.arange(nx), {"units": "px"})},
            attrs={"units": "px", "frame_rate": "1000 Hz", "pixel_size": "0.05 mm"},
        )


@pytest.fixture(scope="session")
def two_modes() -> TwoModes:
    return TwoModes()


@pytest.fixture(scope="session")
def make_tones():
    """The :func:`tones` builder."""
    return tones


@pytest.fixture(scope="session")
def fit_amplitude():
    """The :func:`amplitude_at` least-squares amplitude."""
    return amplitude_at
