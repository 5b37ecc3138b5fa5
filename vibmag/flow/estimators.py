"""One entry point for every flow estimator, chosen by name.

Every estimator is an ``nn.Module`` whose ``forward(ref, moving)`` maps
(N, C, H, W) frame pairs to a flow (N, 2, H, W), x first, px, with
``moving(p + flow(p)) = ref(p)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from numbers import Real

import torch
from torch import nn

from ..errors import OptionError, OptionValueError
from .lk import LucasKanade, LucasKanadeOptions

__all__ = ["DEFAULT_METHOD", "available_methods", "get_estimator", "check_flow_options", "estimate_flow",
           "estimator_options"]

#: The estimator used when ``method`` is None (chosen by benchmarks/flow_accuracy.py).
DEFAULT_METHOD = "lucas-kanade"

_ESTIMATORS = {
    "lucas-kanade": LucasKanade,
}
#: The options dataclass of each estimator: its fields are the keywords ``get_estimator`` accepts.
_OPTIONS = {
    "lucas-kanade": LucasKanadeOptions,
}


def available_methods() -> tuple[str, ...]:
    """Names accepted as ``method``."""
    return tuple(_ESTIMATORS)


def get_estimator(method: str | None = None, **options) -> nn.Module:
    """Build the estimator called ``method`` (default :data:`DEFAULT_METHOD`) with ``options``.

    Raises
    ------
    vibmag.errors.OptionValueError
        If ``method`` is not one of :func:`available_methods` (also a ValueError).
    vibmag.errors.OptionError
        If an option is not one the estimator takes (the message names it,
        suggests the nearest valid name, and lists them all); also a TypeError.
    """
    name = DEFAULT_METHOD if method is None else method
    if name not in _ESTIMATORS:
        close = difflib.get_close_matches(str(name), available_methods(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise OptionValueError(f"unknown flow method {name!r}{hint}; expected one of {', '.join(available_methods())}")
    valid = estimator_options(name)
    unknown = [key for key in options if key not in valid]
    if unknown:
        hints = [f"{key!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(key, valid, n=1)) else repr(key) for key in unknown]
        raise OptionError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)} for flow method {name!r}; "
            f"its options are {', '.join(valid)}"
        )
    for key, value in options.items():
        if isinstance(value, Real) and not isinstance(value, bool) and not math.isfinite(value):
            raise OptionValueError(f"flow method {name!r}: option {key} must be finite, got {value!r}")
    try:
        return _ESTIMATORS[name](**options)
    except (TypeError, ValueError) as exc:  # a value of the wrong type, or out of range, for a known option
        raise OptionValueError(f"flow method {name!r}: bad option value: {exc}") from None


def check_flow_options(method: str | None = None, options: Mapping | None = None) -> dict:
    """``options`` as a new dict, once the estimator called ``method`` is known to take them ({} for None).

    What the front ends (:func:`vibmag.survey`, :func:`vibmag.report`, the
    CLI's ``--flow-option``, the batch settings' ``analysis.flow_options``) run
    before any work, so a misspelt option stops them at once.

    Raises
    ------
    vibmag.errors.OptionValueError
        If ``options`` is not a mapping, ``method`` is unknown, or a value is
        out of range (as :func:`get_estimator`).
    vibmag.errors.OptionError
        If an option is not one the estimator takes.
    """
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise OptionValueError(f"flow_options must be a dict of the flow estimator's options, got {type(options).__name__}")
    get_estimator(method, **options)
    return dict(options)


def estimator_options(method: str | None = None) -> tuple[str, ...]:
    """The keyword options the estimator called ``method`` takes (its options dataclass's fields)."""
    name = DEFAULT_METHOD if method is None else method
    return tuple(f.name for f in dataclasses.fields(_OPTIONS[name]))


def estimate_flow(ref: torch.Tensor, moving: torch.Tensor, *, method: str | None = None, **options) -> torch.Tensor:
    """Flow (N, 2, H, W) from ``ref`` to ``moving`` (each (N, C, H, W)) with the named estimator.

    Convention
    ----------
    ``moving(p + flow(p)) = ref(p)``; x component first; px.
    """
    return get_estimator(method, **options)(ref, moving)
