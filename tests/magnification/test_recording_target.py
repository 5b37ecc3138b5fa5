"""The test-time target: motion found where the recording vibrates, the still background set still."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vibmag.magnification.recording_target import moving_pixels, still_background_target

FRAMES, SIZE, FREQUENCY = 12, 32, 0.13  # cycles per frame


def pair_flows(seed: int = 0, noise: float = 0.02, amplitude: float = 0.3):
    """Flows F(I0, It), t = 1..11, of a square moving ``amplitude`` px at 0.13 cycles/frame on a still background.

    Each flow is the true displacement from frame 0 plus frame 0's error e0 (one field, the same in every
    pair) plus each frame's own error, both Gaussian with sd ``noise`` px. Returns (flows, truth, mask).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(1, FRAMES)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[8:24, 8:24] = True
    direction = np.array([0.6, 0.8])[:, None, None]

    def position(time):
        return amplitude * np.sin(2 * np.pi * FREQUENCY * time + 0.7)

    truth = (position(t) - position(0))[:, None, None, None] * direction * mask
    flows = truth + rng.normal(0, noise, (2, SIZE, SIZE)) + rng.normal(0, noise, truth.shape)
    return torch.from_numpy(flows).float(), torch.from_numpy(truth).float(), mask


def test_the_motion_test_finds_the_vibrating_square_and_its_frequency():
    flows, _, mask = pair_flows()
    moving, frequencies = moving_pixels(flows, np.arange(1, FRAMES))
    assert min(abs(f - FREQUENCY) for f in frequencies) < 0.5 / (FRAMES - 1)  # within half a DFT bin of the span
    found = moving.numpy()
    assert found[mask].mean() > 0.95 and found[~mask].mean() < 0.02


def test_the_target_keeps_the_moving_field_and_removes_frame_zeros_error_from_the_background():
    flows, truth, mask = pair_flows()
    target, moving, _ = still_background_target(flows, np.arange(1, FRAMES))
    assert torch.equal(target[:, :, moving], flows[:, :, moving])
    assert torch.equal(target[:, :, ~moving], torch.zeros_like(target[:, :, ~moving]))
    # three quarters of the pixels are still: their error (e0 plus each frame's) is gone
    assert (target - truth).pow(2).mean().sqrt() < 0.6 * (flows - truth).pow(2).mean().sqrt()


def test_a_still_recording_is_found_still():
    still, _, _ = pair_flows(amplitude=0.0)
    moving, _ = moving_pixels(still, np.arange(1, FRAMES))
    assert moving.float().mean() < 0.02  # the test's false alarms (1e-3 per frequency tried)


def test_fewer_than_four_frames_or_mismatched_times_are_refused():
    flows, _, _ = pair_flows()
    with pytest.raises(ValueError, match="at least 4 frames"):
        moving_pixels(flows[:3], [1, 2, 3])
    with pytest.raises(ValueError, match="one time each"):
        moving_pixels(flows, np.arange(1, 5))
