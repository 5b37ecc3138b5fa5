"""Shared plumbing between plain-array cores and labelled DataArrays.

The analysis functions compute on NumPy arrays along a last ``time`` axis; the
helpers here lift such cores to DataArrays with :func:`xarray.apply_ufunc`
(dask-parallel over every other dim), read the sampling rate, check inputs and
format units. Nothing here is public.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pint
import pint_xarray  # noqa: F401  (registers the .pint accessor used for quantified input)
import xarray as xr

from ..recording import frame_rate_hz
from .errors import AnalysisError

_SIMPLE_UNIT = re.compile(r"^[A-Za-z_]\w*$")


def require_dims(da: xr.DataArray, dims: tuple[str, ...], what: str) -> None:
    """Raise AnalysisError unless ``da`` has every dim in ``dims``."""
    if not isinstance(da, xr.DataArray):
        raise AnalysisError(f"{what} expects an xarray.DataArray, got {type(da).__name__}")
    missing = [d for d in dims if d not in da.dims]
    if missing:
        raise AnalysisError(f"{what} needs dims {dims}; the data has dims {da.dims} (missing {tuple(missing)})")


def sampling_rate_hz(da: xr.DataArray, what: str) -> float:
    """Sampling rate along ``time`` in Hz, from attrs['frame_rate'] or the time coordinate."""
    require_dims(da, ("time",), what)
    return frame_rate_hz(da)


def units_of(da: xr.DataArray) -> str:
    """The ``units`` attribute of ``da``; data without one are taken as dimensionless ("1")."""
    return str(da.attrs.get("units", "1"))


def power_density_units(units: str) -> str:
    """Units of a power spectral density of data in ``units``: 'px' -> 'px**2/Hz'."""
    if units in ("", "1"):
        return "1/Hz"
    base = units if _SIMPLE_UNIT.match(units) else f"({units})"
    return f"{base}**2/Hz"


def require_finite(values: np.ndarray, what: str) -> None:
    """Raise AnalysisError naming how many values are NaN or infinite."""
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise AnalysisError(
            f"{what}: the input holds {bad} NaN or infinite values; fill or drop them first "
            "(e.g. da.interpolate_na('time') or da.fillna(0))"
        )


def over_time(core, da: xr.DataArray, *, output_dim: str = "time", output_size: int | None = None,
              dtype=float, **kwargs) -> xr.DataArray:
    """Apply ``core(values, **kwargs)``, which maps the last (time) axis to ``output_dim``.

    Every other dim is a loop dim: dask-backed data stay lazy and are computed
    chunk by chunk in parallel (time is first rechunked into one chunk, since
    the core needs whole time series). Attrs are kept; the result has the
    input's dim order with ``output_dim`` in place of ``time`` (or without it
    when ``output_dim`` is None).
    """
    if da.chunks is not None:
        da = da.chunk({"time": -1})
    out_core = [] if output_dim is None else [output_dim]
    gufunc_kwargs = {} if output_size is None else {"output_sizes": {output_dim: output_size}}
    result = xr.apply_ufunc(
        core,
        da,
        input_core_dims=[["time"]],
        output_core_dims=[out_core],
        dask="parallelized",
        output_dtypes=[dtype],
        dask_gufunc_kwargs=gufunc_kwargs,
        keep_attrs=True,
        kwargs=kwargs,
    )
    order = [output_dim if d == "time" else d for d in da.dims if output_dim is not None or d != "time"]
    return result.transpose(*order)


def float_dtype(dtype) -> np.dtype:
    """The float dtype results keep: float32 stays float32, everything else becomes float64."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


def accepts_quantified(func):
    """Let ``func(da, ...)`` take pint-quantified DataArrays (pint-xarray) too.

    Units are handled at the boundary: quantified input is dequantified (units
    move to attrs), the function runs on plain numbers, and its result is
    quantified again in the input's unit registry.
    """

    @functools.wraps(func)
    def wrapper(da, *args, **kwargs):
        if not isinstance(getattr(da, "data", None), pint.Quantity):
            return func(da, *args, **kwargs)
        registry = da.data._REGISTRY
        return func(da.pint.dequantify(), *args, **kwargs).pint.quantify(unit_registry=registry)

    return wrapper
