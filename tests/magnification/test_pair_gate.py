"""The significance gate for pairs (vibmag.magnification.gate) against scenes whose motion is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from vibmag.magnification import load_model, magnify_frames, magnify_pair
from vibmag.magnification.gate import flow_significance, pair_gate, significance_gate
from vibmag.synthetic import object_scene, render_magnified, vibrating_plate

BORDER = 12


def pair(ds):
    frames = torch.from_numpy(ds["frames"].values.astype(np.float32))[:, None]
    return frames[:1], frames[1:2]


def scene(noise: float, seed: int = 3, motion: float = 0.2):
    """Four objects moved by ``motion`` px each (random directions) over a still background (0.2 px: 10x the flow's
    sd at noise 0.01)."""
    rng = np.random.default_rng(seed)
    shifts = [(motion * np.cos(a), motion * np.sin(a)) for a in rng.uniform(0, 2 * np.pi, 4)]
    return object_scene((96, 96), n_objects=4, motion=shifts, noise=noise, seed=seed)


def test_significance_is_the_mahalanobis_distance():
    flow = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    covariance = torch.tensor([4.0, 0.0, 16.0]).view(1, 3, 1, 1)  # sd 2 in x, 4 in y
    assert float(flow_significance(flow, covariance)) == pytest.approx((3 / 2) ** 2 + (4 / 4) ** 2)
    correlated = torch.tensor([2.0, 1.0, 2.0]).view(1, 3, 1, 1)
    expected = flow[0, :, 0, 0] @ torch.linalg.inv(torch.tensor([[2.0, 1.0], [1.0, 2.0]])) @ flow[0, :, 0, 0]
    assert float(flow_significance(flow, correlated)) == pytest.approx(float(expected))


def test_gate_is_zero_on_a_still_noisy_plate():
    ds = vibrating_plate((96, 96), n_frames=2, modes=[], noise=2 / 255, seed=4)
    assert float(pair_gate(*pair(ds)).max()) == 0.0


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_gate_covers_the_moving_objects_and_leaves_far_background_out(seed):
    """Within a few px of an object the flow itself carries its motion (the window's and, on weak texture, the
    coarse pyramid levels' reach: measured up to 23 px, 0.1 px of flow): that is the flow's error, not noise, and the
    gate follows it. Beyond 32 px nothing moved and nothing is magnified."""
    ds = scene(noise=0.01, seed=seed)
    weight = pair_gate(*pair(ds))[0, 0].numpy()
    moving = np.abs(ds["true_displacement"].values[1]).max(axis=0) > 0
    distance = ndimage.distance_transform_edt(~moving)
    assert (weight[moving] == 1.0).mean() > 0.9
    assert (weight[distance > 32] > 0).mean() < 0.02


def test_gated_magnification_is_closer_to_the_exact_render_at_high_alpha():
    """Noise 0.01, 0.1 px, alpha 100: ungated, the background wobbles by alpha times the flow's noise (about 2 px);
    gated it stays It, and the objects are magnified as before. RMSE against the exact render, by region."""
    ds, alpha = scene(noise=0.01, motion=0.1), 100.0
    i0, it = pair(ds)
    exact = render_magnified(ds, alpha)["frames"].values[1]
    model = load_model()
    with torch.no_grad():
        plain, gated = (magnify_pair(model, i0, it, alpha, gate=g)[0, 0].clamp(0, 1).numpy() for g in (False, True))
    inner = np.zeros(exact.shape, bool)
    inner[BORDER:-BORDER, BORDER:-BORDER] = True
    distance = ndimage.distance_transform_edt(np.abs(ds["true_displacement"].values[1]).max(axis=0) == 0)
    regions = {"all": inner, "background": inner & (distance > 16), "objects": inner & (distance == 0)}
    error = {(name, region): float(np.sqrt(np.mean((out - exact)[mask] ** 2)))
             for name, out in (("plain", plain), ("gated", gated)) for region, mask in regions.items()}
    # measured: background 0.0627 -> 0.0144 (the frames' noise is 0.01), objects 0.136 -> 0.131, all 0.0866 -> 0.0754
    assert error["gated", "background"] < 0.3 * error["plain", "background"], error
    assert error["gated", "objects"] < 1.05 * error["plain", "objects"], error
    assert error["gated", "all"] < error["plain", "all"], error
    weight = pair_gate(i0, it)[0, 0].numpy()
    assert np.array_equal(gated[weight == 0], it[0, 0].numpy()[weight == 0])


def test_magnify_frames_gates_the_sequence_with_one_weight():
    ds = object_scene((64, 64), n_frames=4, noise=0.01, seed=2, frame_rate="100 Hz")
    frames = ds["frames"].values.astype(np.float32)
    model = load_model()
    out = magnify_frames(model, frames, 30.0, gate=True)
    x = torch.from_numpy(frames)[:, None]
    weight = torch.stack([pair_gate(x[:1], x[t:t + 1])[0, 0] for t in range(1, 4)]).amax(0).numpy()
    still = weight == 0
    assert still.any() and not still.all()
    for t in range(1, 4):  # where no frame moved significantly, every output frame is its input
        assert np.array_equal(out[t][still], np.clip(frames[t], 0, 1)[still])


def test_gate_refuses_bad_settings():
    flow, covariance = torch.zeros(1, 2, 8, 8), torch.ones(1, 3, 8, 8)
    with pytest.raises(ValueError, match="grow_threshold"):
        significance_gate(flow, covariance, threshold=0.0)
    with pytest.raises(ValueError, match="grow_threshold"):
        significance_gate(flow, covariance, threshold=3.0, grow_threshold=4.0)
