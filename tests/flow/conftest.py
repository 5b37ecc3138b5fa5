"""Frame pairs with exact flow for the flow tests (vibmag.synthetic speckle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vibmag.synthetic import shifted_pair


def pair_tensors(shape, shift, *, seed=0, noise=0.0, dtype=torch.float32):
    """``(ref, moving, true_flow)`` as (1, 1, H, W), (1, 1, H, W), (1, 2, H, W) tensors."""
    ref, moving, flow = shifted_pair(shape, shift, seed=seed, noise=noise, dtype=np.float64)
    return (
        torch.from_numpy(ref)[None, None].to(dtype),
        torch.from_numpy(moving)[None, None].to(dtype),
        torch.from_numpy(flow)[None].to(dtype),
    )


@pytest.fixture(scope="session")
def speckle64():
    """A 64 x 64 speckle image (1, 1, H, W) float32 in [0, 1]."""
    ref, _, _ = pair_tensors((64, 64), (0.0, 0.0), seed=3)
    return ref


def interior(x: torch.Tensor, border: int) -> torch.Tensor:
    """(..., H, W) without ``border`` px on each side."""
    return x[..., border:-border, border:-border]
