"""One entry point for every flow estimator, chosen by name.

Every estimator is an ``nn.Module`` whose ``forward(ref, moving)`` maps
(N, C, H, W) frame pairs to a flow (N, 2, H, W), x first, px, with
``moving(p + flow(p)) = ref(p)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .lk import LucasKanade

__all__ = ["DEFAULT_METHOD", "available_methods", "get_estimator", "estimate_flow"]

#: The estimator used when ``method`` is None (chosen by benchmarks/flow_accuracy.py).
DEFAULT_METHOD = "lucas-kanade"

_ESTIMATORS = {
    "lucas-kanade": LucasKanade,
}


def available_methods() -> tuple[str, ...]:
    """Names accepted as ``method``."""
    return tuple(_ESTIMATORS)


def get_estimator(method: str | None = None, **options) -> nn.Module:
    """Build the estimator called ``method`` (default :data:`DEFAULT_METHOD`) with ``options``.

    Raises
    ------
    ValueError
        If ``method`` is not one of :func:`available_methods`.
    """
    name = DEFAULT_METHOD if method is None else method
    if name not in _ESTIMATORS:
        raise ValueError(f"unknown flow method {name!r}; expected one of {', '.join(available_methods())}")
    return _ESTIMATORS[name](**options)


def estimate_flow(ref: torch.Tensor, moving: torch.Tensor, *, method: str | None = None, **options) -> torch.Tensor:
    """Flow (N, 2, H, W) from ``ref`` to ``moving`` (each (N, C, H, W)) with the named estimator.

    Convention
    ----------
    ``moving(p + flow(p)) = ref(p)``; x component first; px.
    """
    return get_estimator(method, **options)(ref, moving)
