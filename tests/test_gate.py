"""The motion-evidence gate decides per object, not per pixel: a bar whose texture is uniform along its length
is magnified along its whole length, and background farther than the transition width stays still."""

import numpy as np
import pytest
import scipy.special

from vibmag.pipeline import magnify
from vibmag.pipeline.magnifying import DEFAULT_TRANSITION
from vibmag.recording import make_recording

RATE = 200.0
TOP, BOTTOM, LEFT, RIGHT = 20.0, 28.0, 16, 144  # the bar's edges (px)


def bar_scene(amplitude=0.1, n_frames=40, noise=1 / 255, seed=0, shape=(48, 160)):
    """An opaque bar (0.8, uniform along x, edges 1 px soft) over static speckle, moving in y by a 20 Hz sine."""
    rng = np.random.default_rng(seed)
    height, width = shape
    y = np.arange(height)[:, None] + 0.0
    x = np.arange(width)[None, :]
    background = 0.3 + 0.1 * _blur(rng.standard_normal(shape))
    frames = []
    for t in range(n_frames):
        d = amplitude * np.sin(2 * np.pi * 20.0 * t / RATE)
        cover = 0.5 * (scipy.special.erf((y - TOP - d) / 1.0) - scipy.special.erf((y - BOTTOM - d) / 1.0))
        cover = cover * ((x >= LEFT) & (x < RIGHT))
        frames.append(cover * 0.8 + (1 - cover) * background + noise * rng.standard_normal(shape))
    return make_recording(np.clip(np.array(frames, dtype=np.float32), 0, 1), frame_rate=f"{RATE} Hz")


def _blur(a):
    """A light 3x3 box blur (speckle with some correlation)."""
    padded = np.pad(a, 1, mode="reflect")
    return sum(padded[i : i + a.shape[0], j : j + a.shape[1]] for i in range(3) for j in range(3)) / 3.0




@pytest.fixture(scope="module")
def bar_result():
    ds = bar_scene()
    return ds, magnify(ds, 20.0, band=("10 Hz", "40 Hz"), method="lagrangian")


def test_gate_is_one_along_the_whole_bar(bar_result):
    _, result = bar_result
    gate = result["motion_evidence"].values
    on_bar = gate[int(TOP) : int(BOTTOM) + 1, LEFT + 2 : RIGHT - 2]
    assert on_bar.min() > 0.95, f"gate on the bar ranges {on_bar.min():.3f}..{on_bar.max():.3f}"


def test_background_beyond_the_transition_width_stays_still(bar_result):
    ds, result = bar_result
    gate = result["motion_evidence"].values
    far = np.ones(gate.shape, dtype=bool)
    reach = int(np.ceil(DEFAULT_TRANSITION)) + 2  # the bar moves by 0.1 px; its soft edge spans about 2 px
    far[int(TOP) - reach : int(BOTTOM) + reach + 1, LEFT - reach : RIGHT + reach] = False
    assert gate[far].max() < 1e-3
    np.testing.assert_allclose(result["frames"].values[:, far], ds["frames"].values[:, far], atol=1e-4)


def test_along_bar_component_is_not_magnified(bar_result):
    """The bar moves across its length only: the estimator's along-bar (x) component explains nothing and stays unmagnified."""
    ds, result = bar_result
    frames, out = ds["frames"].values, result["frames"].values
    rows = slice(int(TOP) - 3, int(BOTTOM) + 4)
    # no x motion: each output column stays a copy of the input's row profile shifted in y only, so columns stay alike
    spread_in = frames[:, rows, LEFT + 10 : RIGHT - 10].std(axis=2).mean()
    spread_out = out[:, rows, LEFT + 10 : RIGHT - 10].std(axis=2).mean()
    assert spread_out < 1.5 * spread_in + 0.01


def test_a_recording_whose_motion_the_gate_cannot_confirm_warns_and_is_returned_as_recorded():
    """Two frames of a still, noisy scene: nothing to confirm, so nothing is magnified, and the user is told."""
    from vibmag.errors import VibmagWarning
    from vibmag.synthetic import vibrating_plate

    ds = vibrating_plate((64, 64), n_frames=2, modes=[], noise=2 / 255, seed=3)
    with pytest.warns(VibmagWarning, match="confirmed no motion where alpha applies"):
        result = magnify(ds, 20.0, method="lagrangian")
    np.testing.assert_allclose(result["frames"].values, ds["frames"].values, atol=1e-4)  # resampled at zero shift
    assert result["motion_evidence"].values.max() == 0.0
