"""Evidence that measured motion is real: the gate that keeps static background still when magnifying.

:class:`MotionEvidence` accumulates, over a recording, how much better the
measured displacement explains each pixel's frames than "nothing moved".
"""

from __future__ import annotations

import numpy as np
import torch

from .filters import gaussian_kernel1d, separable_filter
from .warp import warp

__all__ = ["MotionEvidence"]


class MotionEvidence:
    """Per-pixel evidence that the estimated motion explains the frames better than no motion at all.

    Over all frames, with ``S`` a Gaussian window of ``window`` px,
    ``still = sum_t S[(I_t - I_0)^2]`` is the misfit of "nothing moved" and
    ``moved = sum_t S[(I_t(p + d_t(p)) - I_0)^2]`` that of the estimated
    displacement; ``improvement = 1 - moved / still``. Where the motion is
    real and well measured it is large; on static background it is at most
    what fitting a flow to sensor noise gains (a displacement leaked from a
    moving neighbour makes it negative); where motion is buried in noise it is
    small too. :meth:`weight` maps it to [0, 1] with a smooth step from
    ``low`` to ``high``.

    The default step (0.12 to 0.30) comes from measurement on vibmag.synthetic
    object scenes (benchmarks/pipeline.py): static background >= 12 px from
    moving objects had improvement 0.04 / 0.06 / 0.10 (median / 90th / 99th
    percentile) at noise 1/255, while objects vibrating by 0.1-0.15 px had
    0.28 / 0.37 / 0.50 (10th / 50th / 90th); at noise 3/255 such objects fall
    to 0.09-0.17 and are mostly left unmagnified, their motion being near the
    noise.
    """

    def __init__(self, reference: torch.Tensor, window: float = 3.0):
        self.reference = reference  # (1, 1, H, W)
        self.kernel = gaussian_kernel1d(window)
        self.still = torch.zeros(reference.shape[-2:], dtype=torch.float64)
        self.moved = torch.zeros_like(self.still)

    def add(self, frames: torch.Tensor, flow: torch.Tensor) -> None:
        """Accumulate (n, 1, H, W) luminance frames and their (n, 2, H, W) displacement."""
        def misfit(images):
            return separable_filter((images - self.reference) ** 2, self.kernel).sum(dim=(0, 1)).double()

        self.still += misfit(frames)
        self.moved += misfit(warp(frames, flow))

    def improvement(self) -> np.ndarray:
        """(H, W) ``1 - moved / still`` (0 where nothing changed at all)."""
        ratio = torch.where(self.still > 0, self.moved / self.still.clamp_min(1e-30), torch.ones_like(self.still))
        return (1.0 - ratio).numpy()

    def weight(self, low: float = 0.12, high: float = 0.30) -> np.ndarray:
        """(H, W) weight in [0, 1] for ``alpha - 1``: a smooth step of :meth:`improvement` from ``low`` to ``high``."""
        x = np.clip((self.improvement() - low) / (high - low), 0.0, 1.0)
        return x * x * (3.0 - 2.0 * x)
