"""Fixtures for the magnifier tests: a frozen flow estimator and a small model with non-trivial weights."""

from __future__ import annotations

import pytest
import torch

from vibmag.magnification import Magnifier
from vibmag.magnification.infer import resolve_flow


@pytest.fixture(scope="session")
def estimator():
    """vibmag.flow's default estimator, frozen."""
    return resolve_flow()


def randomised(variant: str = "flow", seed: int = 0) -> Magnifier:
    """A small Magnifier whose output head is not zero (so it really warps and adds a residual)."""
    gen = torch.Generator().manual_seed(seed)
    model = Magnifier(variant, widths=(8, 16))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


@pytest.fixture
def small_model():
    return randomised("flow")
