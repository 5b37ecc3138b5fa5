"""The self-supervised losses: zero for a perfect magnification, positive otherwise, frozen estimator in the loop."""

from __future__ import annotations

import pytest
import torch

from vibmag.magnification import FlowMagLoss, color_loss, magnification_loss
from vibmag.magnification.losses import flow_and_confidence, freeze, warp_bilinear
from vibmag.synthetic import Mode, render_magnified, vibrating_plate


@pytest.fixture(scope="module")
def plate():
    """A rigidly translating speckle plate (no occlusion) and its exact 8x magnification."""
    ds = vibrating_plate((64, 64), n_frames=2, frame_rate="1 kHz", modes=[Mode("250 Hz", 0.25, direction=30)], seed=3, speckle_size=6.0)
    frames = torch.tensor(ds["frames"].values)[:, None]
    magnified = torch.tensor(render_magnified(ds, 8.0)["frames"].values)[:, None]
    return frames[:1], frames[1:], magnified[1:]


def test_loss_is_zero_for_exact_magnification(plate, estimator):
    i0, it, exact = plate
    loss = FlowMagLoss(estimator)
    assert loss(i0, it, exact, 8.0).value < 0.1 * loss(i0, it, it, 8.0).value
    # away from the frame border (where content leaves the frame), "zero" up to the
    # flow estimator's own error of a few thousandths of a px
    interior = torch.zeros(1, 1, 64, 64)
    interior[..., 8:-8, 8:-8] = 1
    with torch.no_grad():
        flow_in = estimator(i0, it)
        flow_exact, flow_nothing = estimator(i0, exact), estimator(i0, it)
    assert magnification_loss(flow_exact, flow_in, 8.0, interior) < 0.02
    # (bilinear resampling of speckle leaves a few 1e-3 of intensity error)
    assert color_loss(it, exact, flow_in, flow_exact, interior) < 4e-3
    assert magnification_loss(flow_nothing, flow_in, 8.0, interior) > 1.1  # 7 * 0.25 * (cos 30 + sin 30) / 2 px


def test_loss_is_positive_for_wrong_magnification(plate, estimator):
    i0, it, exact = plate
    loss = FlowMagLoss(estimator)
    blurred = torch.nn.functional.avg_pool2d(exact, 3, 1, 1, count_include_pad=False)
    assert loss(i0, it, blurred, 8.0).color > 3 * loss(i0, it, exact, 8.0).color
    assert loss(i0, it, exact, 4.0).mag > 0.5  # right picture, wrong alpha


def test_terms_and_weights():
    flow_in = torch.ones(1, 2, 4, 4)
    assert magnification_loss(3 * flow_in, flow_in, 3.0) == 0
    assert magnification_loss(2 * flow_in, flow_in, torch.full((1, 1, 4, 4), 3.0)) == 1
    img = torch.rand(1, 1, 4, 4)
    assert color_loss(img, img, flow_in, flow_in) == 0
    assert torch.equal(warp_bilinear(img, torch.zeros(1, 2, 4, 4)), img) or torch.allclose(warp_bilinear(img, torch.zeros(1, 2, 4, 4)), img, atol=1e-6)


class _ScaledFlow(torch.nn.Module):
    """A toy estimator with a parameter: flow = scale * (moving - ref) in x."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, ref, moving):
        d = (moving - ref).mean(1, keepdim=True)
        return torch.cat([self.scale * d, 0 * d], dim=1)


def test_gradients_flow_through_frozen_estimator():
    est = _ScaledFlow()
    loss = FlowMagLoss(est)
    assert not est.scale.requires_grad and not est.training
    i0 = torch.rand(1, 1, 8, 8)
    it = i0 + 0.1
    j = it.clone().requires_grad_()
    loss(i0, it, j, 3.0).total.backward()
    assert j.grad is not None and j.grad.abs().sum() > 0
    assert est.scale.grad is None


def test_flow_and_confidence_adapters(estimator):
    ref = torch.rand(1, 1, 32, 32)
    flow, conf = flow_and_confidence(estimator, ref, ref)
    assert flow.shape == (1, 2, 32, 32) and conf.shape == (1, 1, 32, 32)
    flow, conf = flow_and_confidence(lambda a, b: torch.zeros(1, 2, 32, 32), ref, ref)
    assert conf is None
    flow, conf = flow_and_confidence(lambda a, b: (torch.zeros(1, 2, 32, 32), torch.ones(1, 32, 32)), ref, ref)
    assert conf.shape == (1, 1, 32, 32)
    assert freeze(lambda a, b: a) is not None
