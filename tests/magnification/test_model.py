"""The generator: alpha = 1 identity, per-pixel alpha, warp exactness and shapes."""

from __future__ import annotations

import pytest
import torch
from conftest import randomised

from vibmag.magnification import Magnifier, alpha_encoding
from vibmag.magnification.model import warp


def _pair(n=2, c=1, h=40, w=56, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=gen), torch.rand(n, c, h, w, generator=gen), torch.randn(n, 2, h, w, generator=gen)


@pytest.mark.parametrize("variant", ["flow", "images"])
@pytest.mark.parametrize("shape", [(2, 1, 40, 56), (1, 3, 33, 47)])
def test_alpha_one_is_identity(variant, shape):
    model = randomised(variant)
    i0, it, flow = _pair(*shape)
    out = model(i0, it, 1.0, flow=flow)
    assert torch.equal(out, it)
    out = model(i0, it, torch.ones(shape[0], 1, *shape[-2:]), flow=flow)
    assert torch.equal(out, it)


def test_magnifies_otherwise():
    model = randomised("flow")
    i0, it, flow = _pair()
    assert (model(i0, it, 4.0, flow=flow) - it).abs().max() > 0.05


@pytest.mark.parametrize("variant", ["flow", "images"])
def test_per_pixel_alpha_leaves_alpha_one_pixels_unchanged(variant):
    model = randomised(variant)
    i0, it, flow = _pair()
    alpha = torch.ones(2, 1, 40, 56)
    alpha[..., 10:30, 20:50] = 8.0
    out = model(i0, it, alpha, flow=flow)
    outside = alpha == 1
    assert torch.equal(out[outside.expand_as(out)], it[outside.expand_as(it)])
    assert (out - it)[..., 10:30, 20:50].abs().max() > 0.01


def test_untrained_flow_variant_is_the_lagrangian_warp():
    """Zero-initialised head: J = It warped by -(alpha - 1) F, i.e. a pure translation stays a translation."""
    model = Magnifier("flow", widths=(8, 16))
    it = torch.rand(1, 1, 32, 32)
    flow = torch.full((1, 2, 32, 32), 0.0)
    flow[:, 0] = 0.5
    out = model(it, it, 3.0, flow=flow)
    assert torch.allclose(out, warp(it, torch.full_like(flow, 0.0).index_fill(1, torch.tensor([0]), -1.0)), atol=1e-6)


def test_warp_zero_flow_is_exact_and_integer_shift_moves_pixels():
    img = torch.rand(2, 3, 17, 23)
    assert torch.equal(warp(img, torch.zeros(2, 2, 17, 23)), img)
    shift = torch.zeros(2, 2, 17, 23)
    shift[:, 0] = 1.0
    assert torch.equal(warp(img, shift)[..., :-1], img[..., 1:])


def test_warp_reflects_at_borders():
    img = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 2, 5).contiguous()
    flow = torch.zeros(1, 2, 2, 5)
    flow[:, 0] = -1.0
    assert warp(img, flow)[0, 0, 0].tolist() == [1.0, 0.0, 1.0, 2.0, 3.0]


def test_warp_gradcheck():
    img = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    flow = (0.3 + 0.4 * torch.rand(1, 2, 5, 6, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(warp, (img, flow))


def test_alpha_encoding():
    alpha = torch.tensor([1.0, 2.0, 16.0]).view(3, 1, 1, 1).expand(3, 1, 4, 4)
    enc = alpha_encoding(alpha, n_sin=8)
    assert enc.shape == (3, 10, 4, 4)
    assert torch.all(enc[0, -2:] == 0)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        alpha_encoding(torch.ones(2, 4, 4))


def test_shape_errors_name_shapes():
    model = randomised("flow")
    i0, it, flow = _pair()
    with pytest.raises(ValueError, match="needs flow"):
        model(i0, it, 2.0)
    with pytest.raises(ValueError, match=r"\(2, 2, 40, 56\)"):
        model(i0, it, 2.0, flow=flow[:, :1])
    with pytest.raises(ValueError, match="alpha"):
        model(i0, it, torch.ones(3, 1, 40, 56), flow=flow)
    with pytest.raises(ValueError, match="variant"):
        Magnifier("pixels")


def test_config_round_trip():
    model = Magnifier("images", widths=(8, 16, 32))
    again = Magnifier(**model.config())
    assert again.config() == model.config()
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]


def test_correction_floor_keeps_a_share_of_the_correction_for_noise_free_flow():
    """log-error encoding: at confidence 1 the correction is off without a floor and exactly ``floor`` times the
    full-noise correction with one (the head's field rows set so the raw correction is a known constant)."""
    torch.manual_seed(0)
    i0, it = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    flow, ones = torch.zeros(1, 2, 32, 32), torch.ones(1, 1, 32, 32)
    fields = {}
    for floor in (0.0, 0.3):
        model = Magnifier(base="splat", confidence_encoding="log-error", correction_floor=floor).eval()
        assert Magnifier(**model.config()).config() == model.config()
        with torch.no_grad():
            model.net.head.bias[:2] = 0.5  # raw correction 0.5 / _FLOW_SCALE px everywhere
            fields[floor] = model.predict(i0, it, torch.full_like(it, 4.0), flow=flow, confidence=ones)[0]
            noisy = model.predict(i0, it, torch.full_like(it, 4.0), flow=flow, confidence=torch.full_like(it, 1e-6))[0]
    assert float(fields[0.0].abs().max()) == 0.0
    assert torch.allclose(fields[0.3], 0.3 * noisy, atol=1e-6)
    with pytest.raises(ValueError, match="correction_floor"):
        Magnifier(correction_floor=1.5)
