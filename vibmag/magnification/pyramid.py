"""Laplacian pyramids in torch, shared by the classical (Eulerian) magnifiers.

Burt and Adelson's pyramid with the separable 5-tap binomial kernel
``[1, 4, 6, 4, 1] / 16`` and reflect padding. Reconstruction is exact by
construction: each band stores ``G_k - expand(G_{k+1})``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["laplacian_pyramid", "gaussian_pyramid", "reconstruct", "blur", "max_levels"]

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def blur(images: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """Separable blur of (N, C, H, W) images with a 1-D kernel (default binomial 5-tap), reflect padding."""
    kernel = (_BINOMIAL if kernel is None else kernel).to(images)
    n, c, h, w = images.shape
    pad = kernel.numel() // 2
    flat = images.reshape(n * c, 1, h, w)
    flat = F.conv2d(F.pad(flat, (pad, pad, 0, 0), mode="reflect" if w > pad else "replicate"), kernel.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, pad, pad), mode="reflect" if h > pad else "replicate"), kernel.view(1, 1, -1, 1))
    return flat.reshape(n, c, h, w)


def _reduce(images: torch.Tensor) -> torch.Tensor:
    """Blur and take every second pixel: (N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))."""
    return blur(images)[..., ::2, ::2]


def _expand(images: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Insert zeros, blur with 4x the kernel gain and crop to ``shape`` (H, W)."""
    n, c, h, w = images.shape
    up = images.new_zeros(n, c, 2 * h, 2 * w)
    up[..., ::2, ::2] = images
    return (4.0 * blur(up))[..., : shape[0], : shape[1]]


def max_levels(height: int, width: int, smallest: int = 8) -> int:
    """Levels (band-pass bands plus the low-pass residual) until the residual is about ``smallest`` px."""
    levels, size = 1, min(height, width)
    while size > smallest:
        size = (size + 1) // 2
        levels += 1
    return levels


def gaussian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Blurred and halved copies of (N, C, H, W) images, finest (the input) first; sizes match :func:`laplacian_pyramid`."""
    out = [images]
    for _ in range(levels - 1):
        out.append(_reduce(out[-1]))
    return out


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Decompose (N, C, H, W) images into ``levels`` bands, finest first; the last is the low-pass residual."""
    bands, current = [], images
    for _ in range(levels - 1):
        smaller = _reduce(current)
        bands.append(current - _expand(smaller, current.shape[-2:]))
        current = smaller
    bands.append(current)
    return bands


def reconstruct(bands: list[torch.Tensor]) -> torch.Tensor:
    """Invert :func:`laplacian_pyramid`."""
    image = bands[-1]
    for band in reversed(bands[:-1]):
        image = band + _expand(image, band.shape[-2:])
    return image
