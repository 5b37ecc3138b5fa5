"""vibmag.flow.warp and the filters it rests on."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from vibmag.flow import warp
from vibmag.flow.filters import (
    bspline_prefilter_kernel,
    gaussian_kernel1d,
    mirror_pad,
    separable_filter,
    to_luminance,
)
from vibmag.flow.warp import bspline_coefficients, sample_bspline, sample_bspline_components, spline_gradient


def smooth_image_at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A band-limited test image (low-frequency sinusoids) at positions (y, x), (1, 1, H, W) float64."""
    y, x = y.double(), x.double()
    return (0.5 + 0.2 * torch.sin(0.4 * x + 0.3 * y) + 0.1 * torch.cos(0.25 * x - 0.5 * y))[None, None]


def smooth_image(height=24, width=28):
    return smooth_image_at(torch.arange(float(height)).view(-1, 1), torch.arange(float(width)).view(1, -1))


@pytest.mark.parametrize("interpolation", ["bspline", "bilinear"])
def test_zero_flow_is_identity(interpolation):
    image = torch.rand(2, 3, 16, 20, dtype=torch.float64)
    zero = torch.zeros(2, 2, 16, 20, dtype=torch.float64)
    assert torch.allclose(warp(image, zero, interpolation=interpolation), image, atol=1e-6)  # FIR prefilter: 1e-7


def test_integer_shift_moves_pixels():
    image = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    flow = torch.zeros(1, 2, 16, 16, dtype=torch.float64)
    flow[:, 0] = 2.0  # sample 2 px to the right
    flow[:, 1] = -1.0  # and 1 px up
    assert torch.allclose(warp(image, flow)[..., 1:, :-2], image[..., :-1, 2:], atol=1e-6)


def test_bspline_interpolates_smooth_images_accurately():
    shift_x, shift_y = 0.37, -0.21
    flow = torch.stack((torch.full((24, 28), shift_x), torch.full((24, 28), shift_y)))[None].double()
    image = smooth_image()
    exact = smooth_image_at(torch.arange(24.0).view(-1, 1) + shift_y, torch.arange(28.0).view(1, -1) + shift_x)
    inner = (..., slice(4, -4), slice(4, -4))
    spline_error = (warp(image, flow) - exact)[inner].abs().max()
    bilinear_error = (warp(image, flow, interpolation="bilinear") - exact)[inner].abs().max()
    assert spline_error < 1e-3 and spline_error < 0.1 * bilinear_error


def test_component_samples_are_the_image_moved_along_one_axis():
    """p + flow, p + (0, flow_y), p + (flow_x, 0): each the smooth image at that position, and bit-equal to sample_bspline."""
    height, width = 24, 28
    y, x = torch.arange(float(height)).view(-1, 1), torch.arange(float(width)).view(1, -1)
    flow = torch.stack((0.7 * torch.sin(0.3 * y + 0 * x), 0.4 * torch.cos(0.2 * x + 0 * y)))[None].double()
    coefficients = bspline_coefficients(smooth_image(height, width))
    both, y_only, x_only = sample_bspline_components(coefficients, flow)
    inner = (..., slice(6, -6), slice(6, -6))
    for sampled, dx, dy in ((both, flow[0, 0], flow[0, 1]), (y_only, 0.0, flow[0, 1]), (x_only, flow[0, 0], 0.0)):
        assert (sampled - smooth_image_at(y + dy, x + dx))[inner].abs().max() < 2e-3
    assert torch.equal(both, sample_bspline(coefficients, flow))
    assert torch.equal(y_only, sample_bspline(coefficients, torch.stack((0 * flow[:, 0], flow[:, 1]), 1)))
    assert torch.equal(x_only, sample_bspline(coefficients, torch.stack((flow[:, 0], 0 * flow[:, 1]), 1)))


def test_sampling_in_groups_of_frames_changes_nothing(monkeypatch):
    """Frames sampled in groups (a small grid budget) give the values and gradients of one call, bit for bit."""
    warp_module = sys.modules["vibmag.flow.warp"]
    frames = torch.rand(5, 1, 40, 30, dtype=torch.float64)
    flow = (3 * torch.randn(5, 2, 40, 30, dtype=torch.float64)).requires_grad_()
    coefficients = bspline_coefficients(frames)
    whole = sample_bspline(coefficients, flow)
    (whole_grad,) = torch.autograd.grad(whole.square().sum(), flow)
    whole_components = sample_bspline_components(coefficients, flow.detach())
    monkeypatch.setattr(warp_module, "_GRID_BYTES", 2 * 8 * 40 * 30 * 8)  # two frames per group: 2 + 2 + 1
    grouped = sample_bspline(coefficients, flow)
    (grouped_grad,) = torch.autograd.grad(grouped.square().sum(), flow)
    assert torch.equal(grouped, whole) and torch.equal(grouped_grad, whole_grad)
    grouped_components = sample_bspline_components(coefficients, flow.detach())
    assert all(torch.equal(a, b) for a, b in zip(grouped_components, whole_components))


def test_matched_gradient_is_the_spline_derivative():
    image = torch.rand(1, 1, 20, 20, dtype=torch.float64)
    coefficients = bspline_coefficients(image)
    gx, gy = spline_gradient(coefficients)
    step = 1e-5
    shift = torch.zeros(1, 2, 20, 20, dtype=torch.float64)
    shift[:, 0] = step
    numeric_x = (sample_bspline(coefficients, shift) - sample_bspline(coefficients, -shift)) / (2 * step)
    assert torch.allclose(gx[..., 2:-2, 2:-2], numeric_x[..., 2:-2, 2:-2], atol=1e-6)
    shift = shift.roll(1, dims=1)
    numeric_y = (sample_bspline(coefficients, shift) - sample_bspline(coefficients, -shift)) / (2 * step)
    assert torch.allclose(gy[..., 2:-2, 2:-2], numeric_y[..., 2:-2, 2:-2], atol=1e-6)


def test_warp_is_differentiable_in_image_and_flow():
    image = torch.rand(1, 1, 6, 7, dtype=torch.float64, requires_grad=True)
    flow = (0.3 * torch.rand(1, 2, 6, 7, dtype=torch.float64) + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, f: warp(a, f), (image, flow))


@pytest.mark.parametrize(
    ("image", "flow", "message"),
    [
        (torch.zeros(1, 8, 8), torch.zeros(1, 2, 8, 8), r"expected image \(N, C, H, W\) and flow \(N, 2, H, W\), got \(1, 8, 8\)"),
        (torch.zeros(1, 1, 8, 8), torch.zeros(1, 3, 8, 8), r"got \(1, 1, 8, 8\) and \(1, 3, 8, 8\)"),
        (torch.zeros(2, 1, 8, 8), torch.zeros(1, 2, 8, 8), "must share N, H and W"),
    ],
)
def test_warp_shape_errors(image, flow, message):
    with pytest.raises(ValueError, match=message):
        warp(image, flow)


def test_unknown_interpolation_is_refused():
    with pytest.raises(ValueError, match="interpolation must be 'bspline' or 'bilinear', got 'cubic'"):
        warp(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4), interpolation="cubic")


def test_kernels_are_normalised():
    assert math.isclose(sum(gaussian_kernel1d(2.3)), 1.0)
    assert math.isclose(sum(bspline_prefilter_kernel()), 1.0)
    assert gaussian_kernel1d(0.0) == (1.0,)


def test_prefilter_makes_the_spline_pass_through_the_samples():
    image = torch.rand(1, 1, 9, 30, dtype=torch.float64)  # narrower than the prefilter in y
    c = mirror_pad(mirror_pad(bspline_coefficients(image), 1, -1), 1, -2)
    rebuilt = separable_filter(c, (1 / 6, 4 / 6, 1 / 6))[..., 1:-1, 1:-1]
    assert torch.allclose(rebuilt, image, atol=1e-6)


def test_mirror_pad_repeats_for_long_kernels():
    x = torch.arange(3.0).view(1, 1, 1, 3)
    assert mirror_pad(x, 4, -1).flatten().tolist() == [0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0]


def test_zero_padding_truncates_the_window():
    ones = torch.ones(1, 1, 5, 5)
    summed = separable_filter(ones, (1.0, 1.0, 1.0), padding="zeros")
    assert summed[0, 0, 0, 0] == 4.0 and summed[0, 0, 2, 2] == 9.0


def test_replicate_padding_repeats_the_edge_sample():
    x = torch.arange(5.0).view(1, 1, 1, 5)
    # taps (1, 0, 0): each output is its left neighbour, the first one the edge sample itself
    assert separable_filter(x, (1.0, 0.0, 0.0), (1.0,), padding="replicate").flatten().tolist() == [0.0, 0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="padding"):
        separable_filter(x, (1.0,), padding="wrap")


def test_luminance_weights():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(to_luminance(rgb), torch.full((1, 1, 2, 2), 0.299))
    rgba = torch.cat((rgb, torch.zeros(1, 1, 2, 2)), 1)
    assert torch.equal(to_luminance(rgba), to_luminance(rgb))
