"""Differentiable dense displacement (optical flow) and its labelled front end.

Every estimator shares one call: ``(ref, moving)``, each (N, C, H, W), to a
flow (N, 2, H, W) in px, x first, with ``moving(p + flow(p)) = ref(p)``.
:func:`estimate_flow` picks one by name; :func:`estimate_displacement` runs
it over a recording and returns labelled displacement (API.md).
"""

from .api import estimate_displacement
from .estimators import available_methods, check_flow_options, estimate_flow, get_estimator
from .lk import LucasKanade, LucasKanadeOptions, PreparedReference, lucas_kanade
from .outlines import sharpen_outlines
from .warp import warp

__all__ = [
    "estimate_displacement",
    "estimate_flow",
    "get_estimator",
    "check_flow_options",
    "available_methods",
    "lucas_kanade",
    "LucasKanade",
    "LucasKanadeOptions",
    "PreparedReference",
    "sharpen_outlines",
    "warp",
]
