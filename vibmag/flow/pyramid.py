"""Coarse-to-fine machinery: how many levels, padding, down- and upsampling.

Level 0 is the full-resolution image; level l+1 is level l blurred and
averaged over 2x2 blocks, so the coarse pixel j covers fine pixels 2j and
2j+1 and its centre sits at fine coordinate 2j + 0.5. :func:`upsample_flow`
uses the same alignment.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .filters import gaussian_kernel1d, mirror_pad, separable_filter

__all__ = ["pyramid_levels", "pad_to_multiple", "downsample", "upsample_flow"]

#: Blur before 2x2 averaging (sigma in fine pixels); with the averaging it leaves
#: about 20 % of the amplitude at the coarse level's Nyquist frequency.
_ANTIALIAS_SIGMA = 1.0


def pyramid_levels(height: int, width: int, *, max_motion: float, capture: float = 1.5, min_size: int = 8) -> int:
    """Number of pyramid levels for motions up to ``max_motion`` px.

    Enough levels that ``max_motion`` shrinks to ``capture`` px at the
    coarsest one, but never so many that the coarsest is smaller than
    ``min_size`` px.
    """
    wanted = 1 + max(0, math.ceil(math.log2(max(max_motion, capture) / capture)))
    allowed = 1 + max(0, int(math.floor(math.log2(max(min(height, width), 1) / min_size))))
    return max(1, min(wanted, allowed))


def pad_to_multiple(x: torch.Tensor, multiple: int, *, mirror: bool = False) -> torch.Tensor:
    """Pad (N, C, H, W) on the bottom and right up to multiples of ``multiple``.

    Edge values are replicated, or with ``mirror`` mirrored about the edge
    samples (``mirror_pad``). Frames are mirrored: that is the extension the
    pre-smoothing and the B-spline assume at an unpadded border, so the bottom
    and right borders of a padded frame are fitted as the top and left ones
    (a replicated pad read a bending mode's amplitude 8.6 % high in the 4 rows
    above it, 1.1 % mirrored; docs/flow.md, Uncertainty).
    """
    height, width = x.shape[-2:]
    pad_h = -height % multiple
    pad_w = -width % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    if not mirror:
        return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    x = mirror_pad(x, pad_w, -1)[..., pad_w:] if pad_w else x
    return mirror_pad(x, pad_h, -2)[..., pad_h:, :] if pad_h else x


def downsample(x: torch.Tensor) -> torch.Tensor:
    """Halve (N, C, H, W) images (H, W even): anti-alias blur, then 2x2 averages."""
    return F.avg_pool2d(separable_filter(x, gaussian_kernel1d(_ANTIALIAS_SIGMA)), 2)


def upsample_flow(flow: torch.Tensor) -> torch.Tensor:
    """Flow of a coarse level (N, 2, h, w) -> the next finer level (N, 2, 2h, 2w), in its px."""
    return 2.0 * F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=False)
