"""Outline sharpening (vibmag.flow.sharpen_outlines) against scenes whose displacement is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from vibmag.flow import LucasKanade, sharpen_outlines
from vibmag.synthetic import object_scene


def scene(noise: float, motion: float, seed: int):
    """Four objects each shifted by ``motion`` px (random directions) over a still background: frames (1, 1, H, W) x 2
    and the exact displacement (1, 2, H, W)."""
    rng = np.random.default_rng(seed)
    shifts = [(motion * np.cos(a), motion * np.sin(a)) for a in rng.uniform(0, 2 * np.pi, 4)]
    ds = object_scene((96, 96), n_objects=4, motion=shifts, noise=noise, seed=seed)
    frames = torch.from_numpy(ds["frames"].values.astype(np.float32))[:, None]
    truth = torch.from_numpy(ds["true_displacement"].values[1].astype(np.float32))[None]
    return frames[:1], frames[1:2], truth


def end_point_error(flow, truth, mask=None) -> float:
    error = (flow - truth).norm(dim=1)[0].numpy()
    return float(error.mean() if mask is None else error[mask].mean())


@pytest.mark.parametrize("seed", [3, 4])
def test_sharpening_halves_the_flow_error_at_noise_free_outlines(seed):
    """Lucas-Kanade's window blends object and background motion within a few px of every outline; choosing the
    neighbouring flow that explains each pixel removes most of that blend (measured: 0.115 -> 0.049 px mean error over
    3 scenes at 1 px, 128 px frames)."""
    ref, moving, truth = scene(noise=0.0, motion=1.0, seed=seed)
    with torch.no_grad():
        flow = LucasKanade()(ref, moving)
        sharp = sharpen_outlines(ref, moving, flow)
    assert end_point_error(sharp, truth) < 0.6 * end_point_error(flow, truth)
    moving_mask = truth.abs().amax(dim=1)[0].numpy() > 0
    outline = ndimage.binary_dilation(moving_mask, iterations=4) & ~ndimage.binary_erosion(moving_mask, iterations=4)
    assert end_point_error(sharp, truth, outline) < 0.7 * end_point_error(flow, truth, outline)


@pytest.mark.parametrize("noise", [0.01, 0.03])
def test_sharpening_does_not_make_noisy_flow_worse(noise):
    """On noise the residuals of neighbouring flows differ by less than the margin, and the flow stays as it was."""
    ref, moving, truth = scene(noise=noise, motion=0.1, seed=5)
    with torch.no_grad():
        flow = LucasKanade()(ref, moving)
        sharp = sharpen_outlines(ref, moving, flow)
    assert end_point_error(sharp, truth) <= 1.01 * end_point_error(flow, truth)


def test_every_sharpened_value_is_one_of_the_input_flows_values():
    ref, moving, _ = scene(noise=0.0, motion=1.0, seed=3)
    with torch.no_grad():
        flow = LucasKanade()(ref, moving)
        sharp = sharpen_outlines(ref, moving, flow, passes=1)
    values = {tuple(v) for v in flow[0].flatten(1).T.tolist()}
    assert all(tuple(v) in values for v in sharp[0].flatten(1).T.tolist())
    assert (sharp != flow).any()


def test_refusals():
    ref = torch.zeros(1, 1, 16, 16)
    with pytest.raises(ValueError, match="flow must be"):
        sharpen_outlines(ref, ref, torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="luminance"):
        sharpen_outlines(torch.zeros(1, 3, 16, 16), ref, torch.zeros(1, 2, 16, 16))
    with pytest.raises(ValueError, match="radii"):
        sharpen_outlines(ref, ref, torch.zeros(1, 2, 16, 16), radii=(0, 2))
