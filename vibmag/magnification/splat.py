"""Z-ordered forward splatting and an edge-aware, warm-started Lucas-Kanade: the parts of a loss that can be trusted.

:func:`forward_splat` moves every pixel of an image by a displacement to where
it lands (bilinear splat), the larger motion in front where several land on
the same pixel, and reports which source pixels stay visible. Unlike the
backward warp ``J(q) = I(q - d(q))``, outlines move with their object and the
background an object uncovers is explicit (a hole, filled by the backward
warp when asked).

:func:`edge_aware_flow` is a single-scale Lucas-Kanade whose Gaussian window
(``sigma`` px) is weighted by how similar each neighbour's (lightly blurred)
reference intensity is to the centre pixel's, so the window stops at
intensity edges and motion boundaries stay where the outlines are; it starts
from a given flow and fits only the deviation, and takes a per-pixel weight
(the visibility) inside its windows. It is differentiable in ``moving``.
(METHOD.md section 7.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..flow.filters import central_gradient, gaussian_kernel1d, separable_filter
from ..flow.warp import pixel_grid, warp

__all__ = ["forward_splat", "landed_shift", "splat_warp", "splat_visibility", "edge_aware_flow"]


def _landing(flow: torch.Tensor):
    """Integer corners (x0, y0), bilinear fractions and the in-front key |flow| of every source pixel."""
    _, _, h, w = flow.shape
    gx, gy = pixel_grid(h, w, device=flow.device, dtype=flow.dtype)
    tx, ty = gx + flow[:, 0], gy + flow[:, 1]
    x0, y0 = torch.floor(tx), torch.floor(ty)
    fx, fy = tx - x0, ty - y0
    depth = torch.hypot(flow[:, 0], flow[:, 1]).detach()  # as |flow| along dim 1, several times faster on a CPU
    return x0.long(), y0.long(), fx, fy, depth


def _corners(x0, y0, fx, fy, h, w) -> list:
    """The four (index, weight, valid) of each source pixel's bilinear splat."""
    corners = []
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x, y = x0 + dx, y0 + dy
        weight = (fx if dx else 1 - fx) * (fy if dy else 1 - fy)
        valid = (x >= 0) & (x < w) & (y >= 0) & (y < h) & (weight > 0)
        corners.append(((y.clamp(0, h - 1) * w + x.clamp(0, w - 1)), weight, valid))
    return corners


def _front(corners: list, depth, h, w):
    """(N, H*W) the largest ``depth`` landing on each destination pixel (-inf where none), from :func:`_corners`."""
    n = depth.shape[0]
    front = torch.full((n, h * w), -math.inf, dtype=depth.dtype, device=depth.device)
    for index, _, valid in corners:
        values = torch.where(valid, depth, torch.full_like(depth, -math.inf))
        front.scatter_reduce_(1, index.view(n, -1), values.reshape(n, -1), reduce="amax")
    return front


def _tolerance(front: torch.Tensor) -> torch.Tensor:
    """How far behind the front a source may be and still count as the front (0.25 px, or 10 % of its motion)."""
    return torch.clamp(0.1 * front, min=0.25)


def forward_splat(image: torch.Tensor, flow: torch.Tensor, *, fill: torch.Tensor | None = None,
                  min_weight: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """Move ``image`` (N, C, H, W) by ``flow`` (N, 2, H, W, px, x first, on the image's grid): ``J(p + flow(p)) = image(p)``.

    Where several source pixels land on one destination, the one with the
    larger ``|flow|`` is in front (within 0.25 px or 10 %). Destinations that
    receive less than ``min_weight`` of splat weight are holes: they take
    ``fill`` (N, C, H, W) where given (e.g. the backward warp), else 0.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        The splatted image (N, C, H, W), and the hole mask (N, 1, H, W) as float
        (1 where nothing landed). Differentiable in ``image`` and ``flow``.
    """
    n, c, h, w = image.shape
    x0, y0, fx, fy, depth = _landing(flow)
    corners = _corners(x0, y0, fx, fy, h, w)
    front = _front(corners, depth, h, w)
    total = image.new_zeros((n, c, h * w))
    weight_sum = image.new_zeros((n, 1, h * w))
    flat = image.reshape(n, c, -1)
    for index, weight, valid in corners:
        index = index.view(n, -1)
        in_front = depth.reshape(n, -1) >= torch.gather(front, 1, index) - _tolerance(torch.gather(front, 1, index))
        wv = (weight.reshape(n, -1) * (valid.reshape(n, -1) & in_front)).unsqueeze(1)
        total = total.scatter_add(2, index.unsqueeze(1).expand(n, c, -1), flat * wv)
        weight_sum = weight_sum.scatter_add(2, index.unsqueeze(1), wv)
    out = (total / weight_sum.clamp_min(1e-6)).view(n, c, h, w)
    holes = (weight_sum < min_weight).view(n, 1, h, w)
    background = fill if fill is not None else torch.zeros_like(out)
    return torch.where(holes, background, out), holes.to(image.dtype)


def landed_shift(shift: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) the shift of the source pixel in front where each destination lands, from ``shift`` (N, 2, H, W, px).

    :func:`forward_splat` of the shift by itself (larger motion in front); holes take the backward warp's ``shift(q)``.
    Resampling an image at ``q - landed_shift(shift)(q)`` renders its forward splat (:func:`splat_warp`).
    """
    return forward_splat(shift, shift, fill=shift)[0]


def splat_warp(image: torch.Tensor, shift: torch.Tensor, *, interpolation: str = "bspline") -> torch.Tensor:
    """The forward splat of ``image`` (N, C, H, W) by ``shift`` (N, 2, H, W, px) rendered without the splat's blur.

    The *shift* is splatted to where it lands (:func:`forward_splat`, larger motion in front; holes take the
    backward warp's ``shift(q)``), and the image is resampled at ``q - landed(q)`` (``interpolation``, cubic
    B-spline by default): outlines move with their object as in the colour splat, while fine texture is not
    averaged over the 2 x 2 splat footprint (on 4 px speckle the colour splat's error is about 7x the
    B-spline backward warp's). Exactly ``image`` wherever the landed shift is 0.
    """
    landed = landed_shift(shift)
    still = (landed == 0).all(dim=1, keepdim=True)
    return torch.where(still, image, warp(image, -landed, interpolation=interpolation))


def splat_visibility(flow: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) 1 where a source pixel moved by ``flow`` stays in front where it lands (larger motion in front), else 0."""
    n, _, h, w = flow.shape
    x0, y0, fx, fy, depth = _landing(flow)
    front = _front(_corners(x0, y0, fx, fy, h, w), depth, h, w)
    index = (y0.clamp(0, h - 1) * w + x0.clamp(0, w - 1)).view(n, -1)
    nearest = torch.gather(front, 1, index).view(n, h, w)
    inside = (x0 >= 0) & (x0 < w) & (y0 >= 0) & (y0 < h)
    visible = inside & (depth >= nearest - _tolerance(nearest))
    return visible.to(flow.dtype).unsqueeze(1)


def _patches(x: torch.Tensor, radius: int) -> torch.Tensor:
    """(N, (2r+1)^2, H*W) every pixel's neighbourhood (replicate padding)."""
    padded = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    return F.unfold(padded, 2 * radius + 1)


def edge_aware_flow(ref: torch.Tensor, moving: torch.Tensor, init: torch.Tensor, *, sigma: float = 2.0,
                    range_sigma: float = 0.1, weight: torch.Tensor | None = None, iterations: int = 2,
                    regularization: float = 1e-4) -> torch.Tensor:
    """Edge-aware Lucas-Kanade from ``init``: the flow (N, 2, H, W) with ``moving(p + flow(p)) = ref(p)``.

    Parameters
    ----------
    ref, moving : torch.Tensor, shape (N, 1, H, W)
        Luminance in [0, 1]; gradients flow into ``moving``.
    init : torch.Tensor, shape (N, 2, H, W)
        Starting flow (px, x first); only the deviation from it is fitted.
    sigma : float
        Gaussian window (px); its weights are multiplied by
        ``exp(-(g(q) - g(p))^2 / (2 range_sigma^2))`` with ``g`` the reference
        blurred by 0.7 px.
    weight : torch.Tensor, shape (N, 1, H, W), optional
        Per-pixel weight inside the windows (e.g. :func:`splat_visibility`).
    iterations : int
        Gauss-Newton steps (each warps ``moving`` by the current flow).
    regularization : float
        Added to the structure tensor's diagonal (a pull towards ``init`` on
        textureless windows).
    """
    radius = max(1, math.ceil(2.0 * sigma))
    n, _, h, w = ref.shape
    guide = separable_filter(ref, gaussian_kernel1d(0.7))
    offsets = torch.arange(-radius, radius + 1, dtype=ref.dtype, device=ref.device)
    spatial = torch.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2)).reshape(1, -1, 1)
    similarity = torch.exp(-((_patches(guide, radius) - guide.reshape(n, 1, -1)) ** 2) / (2 * range_sigma**2))
    kernel = spatial * similarity
    if weight is not None:
        kernel = kernel * _patches(weight, radius)
    kernel = kernel.detach()

    def window_sum(x):
        return (_patches(x, radius) * kernel).sum(dim=1).view(n, 1, h, w)

    flow = init
    for _ in range(iterations):
        aligned = warp(moving, flow)
        gx, gy = central_gradient(0.5 * (ref + aligned))
        error = aligned - ref
        a11, a12, a22 = window_sum(gx * gx), window_sum(gx * gy), window_sum(gy * gy)
        b1, b2 = window_sum(gx * error), window_sum(gy * error)
        scale = window_sum(torch.ones_like(ref)).clamp_min(1e-12)
        a11, a22 = a11 + regularization * scale, a22 + regularization * scale
        det = (a11 * a22 - a12 * a12).clamp_min(1e-20)
        dx = -(a22 * b1 - a12 * b2) / det
        dy = -(a11 * b2 - a12 * b1) / det
        flow = flow + torch.cat([dx, dy], dim=1)
    return flow
