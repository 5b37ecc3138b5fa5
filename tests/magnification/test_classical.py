"""Classical magnifiers and the Laplacian pyramid, against exact renders from vibmag.synthetic."""

import numpy as np
import pytest
import torch

from vibmag.analysis import band_filter
from vibmag.magnification.classical import linear_magnify, phase_magnify
from vibmag.magnification.pyramid import laplacian_pyramid, max_levels, reconstruct
from vibmag.synthetic import Mode, render_magnified, vibrating_plate

INTERIOR = (slice(12, -12), slice(12, -12))


@pytest.mark.parametrize("shape", [(1, 1, 37, 50), (2, 3, 64, 64), (1, 1, 9, 130)])
def test_pyramid_reconstructs_exactly(shape):
    images = torch.rand(shape, dtype=torch.float64)
    bands = laplacian_pyramid(images, max_levels(*shape[-2:]))
    assert bands[0].shape == images.shape and min(bands[-1].shape[-2:]) <= 10
    torch.testing.assert_close(reconstruct(bands), images, atol=1e-12, rtol=0)


def gain(out, frames):
    """Least-squares gain g with out[1] - frames[0] = g * (frames[1] - frames[0]) (valid for small motion)."""
    d = (frames[1] - frames[0])[INTERIOR].ravel()
    e = (out[1] - frames[0])[INTERIOR].ravel()
    return float(e @ d / (d @ d))


@pytest.fixture(scope="module")
def pair():
    return vibrating_plate((96, 96), n_frames=2, modes=[Mode("10 Hz", 0.1, direction=30, shape="rigid")], frame_rate="40 Hz", speckle_size=4)


@pytest.mark.parametrize("magnify", [linear_magnify, phase_magnify])
def test_alpha_one_is_identity(pair, magnify):
    frames = torch.tensor(pair["frames"].values, dtype=torch.float64)
    torch.testing.assert_close(magnify(frames, 1.0), frames, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("magnify", "options", "low", "high"), [(linear_magnify, {"cutoff_wavelength": 1.0}, 2.8, 3.1), (phase_magnify, {"smoothing": 0.0}, 2.4, 3.1), (linear_magnify, {}, 1.6, 2.0), (phase_magnify, {}, 1.9, 2.3)])
def test_static_pair_motion_is_magnified(pair, magnify, options, low, high):
    frames = torch.tensor(pair["frames"].values, dtype=torch.float64)
    out = magnify(frames, 3.0, **options).numpy()
    assert low < gain(out, pair["frames"].values) < high
    exact = render_magnified(pair, 3.0)["frames"].values[1]
    before = np.sqrt(np.mean((pair["frames"].values[1] - exact)[INTERIOR] ** 2))
    after = np.sqrt(np.mean((out[1] - exact)[INTERIOR] ** 2))
    assert after < before


@pytest.mark.parametrize(("magnify", "options"), [(linear_magnify, {"cutoff_wavelength": 1.0}), (phase_magnify, {"smoothing": 0.0})])
def test_only_the_band_is_magnified(magnify, options):
    modes = [Mode("12 Hz", 0.05, direction=0, shape="rigid"), Mode("60 Hz", 0.05, direction=90, shape="rigid")]
    ds = vibrating_plate((64, 64), n_frames=80, frame_rate="400 Hz", modes=modes, speckle_size=4)
    frames = torch.tensor(ds["frames"].values, dtype=torch.float64)
    out = magnify(frames, 5.0, temporal=band_filter(40.0, 80.0, 400.0), **options).numpy()
    want = render_magnified(ds, 5.0, band=("40 Hz", "80 Hz"))["frames"].values
    wrong = render_magnified(ds, 5.0, band=("5 Hz", "20 Hz"))["frames"].values
    middle = slice(20, 60)  # away from the filter's start-up at the ends of the record
    def rms(a, b):
        return np.sqrt(np.mean((a[middle][(slice(None),) + INTERIOR] - b[middle][(slice(None),) + INTERIOR]) ** 2))
    assert rms(out, want) < 0.5 * rms(ds["frames"].values, want)
    assert rms(out, want) < 0.5 * rms(out, wrong)


@pytest.mark.parametrize("magnify", [linear_magnify, phase_magnify])
def test_per_pixel_alpha_leaves_alpha_one_areas_unchanged(pair, magnify):
    frames = torch.tensor(pair["frames"].values, dtype=torch.float64)
    alpha = torch.ones(96, 96, dtype=torch.float64)
    alpha[:, 48:] = 4.0
    out = magnify(frames, alpha).numpy()
    uniform = magnify(frames, 4.0).numpy()
    left, right = (slice(None), slice(4, 30)), (slice(None), slice(70, 92))
    np.testing.assert_allclose(out[1][left], pair["frames"].values[1][left], atol=2e-3)
    np.testing.assert_allclose(out[1][right], uniform[1][right], atol=2e-3)


@pytest.mark.parametrize("wavelength", [16.0, 32.0])
def test_phase_magnifies_a_moving_grating_exactly_up_to_a_quarter_wavelength(wavelength):
    # Wadhwa et al. 2013/2014: phase magnification of a sinusoid is exact while alpha * delta < lambda / 4;
    # the output motion is read from the phase of the grating's fundamental (no flow estimator)
    delta, alpha, width = 0.25, 0.2 * wavelength / 0.25, 320
    x = np.arange(width, dtype=np.float64)
    frames = np.stack([0.5 + 0.25 * np.cos(2 * np.pi * (x - d) / wavelength) for d in (0.0, delta)])
    frames = torch.from_numpy(np.repeat(frames[:, None, :], 128, axis=1).astype(np.float32))
    out = phase_magnify(frames, alpha).numpy()
    inner = np.arange(32, 32 + int((width - 64) // wavelength * wavelength))
    profile = out[:, :, inner].mean(axis=1)
    phase = np.angle((profile * np.exp(-2j * np.pi * inner / wavelength)).sum(axis=1))
    moved = -(phase[1] - phase[0]) * wavelength / (2 * np.pi)
    assert moved == pytest.approx(alpha * delta, rel=0.02)
