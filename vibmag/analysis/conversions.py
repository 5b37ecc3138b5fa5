"""Unit conversions of labelled results: pixels to millimetres, Hz to rpm."""

from __future__ import annotations

import numpy as np
import pint.util
import xarray as xr

from ..recording import pixel_size_mm
from ..units import hz_to_rpm, length_mm, ureg
from ._labels import accepts_quantified
from .errors import AnalysisError

__all__ = ["to_physical", "with_rpm"]

# Image pixels: vibmag's "px", and pint's default "px" (a CSS pixel, 1/96 inch), which is what
# units quantified with pint-xarray's default registry come back as.
_PIXELS = {str(ureg.Unit("px")), "css_pixel"}


@accepts_quantified
def to_physical(obj, *, pixel_size=None):
    """Convert pixel units to millimetres on the object: px -> mm, px**2/Hz -> mm**2/Hz, ...

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        Displacement, a waveform, spectrum, deflection shape or peak table
        whose ``units`` contain px. In a Dataset every data variable in pixel
        units is converted; coordinates (pixel positions) stay as they are.
    pixel_size : str or pint.Quantity, optional
        Size of one pixel on the object (``"0.05 mm"``); default
        ``obj.attrs["pixel_size"]``.

    Returns
    -------
    Same type as ``obj``
        Values multiplied by ``pixel_size**k`` (k the power of px in the
        units), units with px replaced by mm; data without px are unchanged.

    Raises
    ------
    AnalysisError
        If the pixel size is unknown, or a DataArray has no ``units``.

    Examples
    --------
    >>> import xarray as xr
    >>> disp = xr.DataArray([2.0, -4.0], dims="time", attrs={"units": "px", "pixel_size": "0.05 mm"})
    >>> mm = to_physical(disp)
    >>> mm.values.tolist(), mm.attrs["units"]
    ([0.1, -0.2], 'mm')
    """
    size_mm = length_mm(pixel_size) if pixel_size is not None else pixel_size_mm(obj)
    if size_mm is None:
        raise AnalysisError(
            "to_physical needs the pixel size: the data has no attrs['pixel_size']; pass pixel_size='0.05 mm' "
            "or open the recording with vibmag.open_recording(..., pixel_size='0.05 mm')"
        )
    if isinstance(obj, xr.Dataset):
        converted = {name: _convert(var, size_mm) for name, var in obj.data_vars.items() if "units" in var.attrs}
        return obj.assign(converted).assign_attrs(pixel_size=f"{size_mm:.12g} mm")
    if "units" not in obj.attrs:
        raise AnalysisError("to_physical needs attrs['units'] (e.g. 'px') on the data")
    return _convert(obj, size_mm).assign_attrs(pixel_size=f"{size_mm:.12g} mm")


def with_rpm(da):
    """Add an ``rpm`` coordinate along ``frequency`` (rpm = 60 x Hz, exactly).

    Parameters
    ----------
    da : xarray.DataArray or xarray.Dataset, with a ``frequency`` dim

    Returns
    -------
    Same type, with coordinate ``rpm`` (units "rpm"); select by it with
    ``.swap_dims(frequency="rpm")``.

    Examples
    --------
    >>> import xarray as xr
    >>> spec = xr.DataArray([0.0, 1.0], dims="frequency",
    ...                     coords={"frequency": ("frequency", [10.0, 20.0], {"units": "Hz"})})
    >>> with_rpm(spec)["rpm"].values.tolist()
    [600.0, 1200.0]
    """
    if "frequency" not in da.dims:
        raise AnalysisError(f"with_rpm needs a 'frequency' dim; the data has dims {tuple(da.dims)}")
    frequency = da["frequency"]
    hz = ureg.Quantity(np.asarray(frequency.values, dtype=float), frequency.attrs.get("units", "Hz")).to("Hz").magnitude
    return da.assign_coords(rpm=("frequency", hz_to_rpm(hz), {"units": "rpm"}))


def _convert(da: xr.DataArray, size_mm: float) -> xr.DataArray:
    """One DataArray from pixel units to mm (unchanged when its units hold no px)."""
    unit = ureg.Unit(da.attrs["units"])
    powers = {name: power for name, power in pint.util.to_units_container(unit, ureg).items() if name in _PIXELS}
    if not powers:
        return da
    power = sum(powers.values())
    mm_unit = unit * ureg.Unit("mm") ** power
    for name, name_power in powers.items():
        mm_unit = mm_unit / ureg.Unit(name) ** name_power
    return da.copy(data=da.data * size_mm**power).assign_attrs(units=f"{mm_unit:~C}")
