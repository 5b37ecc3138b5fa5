"""The z-ordered forward splat (vibmag.magnification.splat) and the "splat" method, checked against exact renders."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from vibmag.magnification.splat import edge_aware_flow, forward_splat, splat_visibility
from vibmag.pipeline import magnify
from vibmag.synthetic import object_scene, render_magnified


def test_integer_shift_moves_a_block_exactly_and_reports_the_hole():
    image = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    flow = torch.zeros(1, 2, 32, 32)
    flow[:, 0, 8:16, 8:16] = 3.0
    out, holes = forward_splat(image, flow)
    torch.testing.assert_close(out[0, 0, 8:16, 11:19], image[0, 0, 8:16, 8:16])
    assert holes[0, 0, 8:16, 8:11].all() and holes.sum() == 24  # the 3 uncovered columns
    visible = splat_visibility(flow)
    assert visible[0, 0, 8:16, 8:16].all() and (1 - visible).sum() == 24  # background under the block's new place


def test_zero_shift_is_the_identity():
    image = torch.rand(2, 3, 20, 24)
    out, holes = forward_splat(image, torch.zeros(2, 2, 20, 24))
    assert torch.equal(out, image) and not holes.any()


def test_edge_aware_flow_recovers_a_translation():
    rng = np.random.default_rng(1)
    import scipy.ndimage

    texture = scipy.ndimage.gaussian_filter(rng.random((72, 72)), 1.5)
    texture = (texture - texture.min()) / np.ptp(texture)
    shifted = scipy.ndimage.shift(texture, (-0.2, 0.3), order=3, mode="mirror")  # moving(p + (0.3, -0.2)) = ref(p)
    ref, moving = (torch.from_numpy(a.astype(np.float32))[None, None] for a in (texture, shifted))
    flow = edge_aware_flow(ref, moving, torch.zeros(1, 2, 72, 72), iterations=3)[0, :, 16:-16, 16:-16]
    np.testing.assert_allclose(flow.mean(dim=(1, 2)).numpy(), [0.3, -0.2], atol=0.03)


def test_splat_method_beats_the_backward_warp_at_occlusions():
    """Objects over still background, 2 frames, 10 px magnified motion: closer to the exact render (SSIM, skimage)."""
    scores = {"lagrangian": [], "splat": []}
    for seed in range(2):
        motion = [(0.5 * np.cos(a), 0.5 * np.sin(a)) for a in np.random.default_rng(seed).uniform(0, 2 * np.pi, 4)]
        ds = object_scene((96, 96), n_objects=4, motion=motion, seed=100 + seed)
        exact = render_magnified(ds, 20.0)["frames"].values[1]
        for method in scores:
            out = magnify(ds, 20.0, method=method, gate=False)["frames"].values[1]
            scores[method].append(structural_similarity(out[8:-8, 8:-8], exact[8:-8, 8:-8], data_range=1.0))
    assert np.mean(scores["splat"]) > np.mean(scores["lagrangian"]) + 0.02, scores


@pytest.mark.parametrize("method", ["splat"])
def test_splat_method_at_alpha_one_returns_the_input(method):
    ds = object_scene((48, 48), n_frames=2, n_objects=2, seed=3)
    out = magnify(ds, 1.0, method=method)["frames"].values
    np.testing.assert_allclose(out, ds["frames"].values, atol=1e-6)
