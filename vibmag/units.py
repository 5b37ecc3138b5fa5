"""One pint registry for vibmag, and parsing of user quantities.

Units are handled at the boundary (STYLE.md): user input such as ``"2 kHz"``,
``"1200 rpm"`` or ``"0.05 mm"`` is parsed here into a pint quantity of the
expected dimension; the numerical core works on plain floats in the base units
below; results carry their units back as ``units`` attribute strings that any
pint registry parses.

Base units inside vibmag:

* frequency: Hz (``rpm`` is revolutions per minute, so ``"1200 rpm"`` is 20 Hz)
* time: s
* length on the object: mm
* image displacement: px (its own dimension, never converted to a length
  without a pixel size)

Importing vibmag makes :data:`ureg` pint's application registry, so units
quantified with pint-xarray (``da.pint.quantify()``) follow these rules too.

Examples
--------
>>> from vibmag.units import frequency_hz, length_mm, parse_quantity
>>> frequency_hz("1200 rpm")
20.0
>>> length_mm("50 um")
0.05
>>> str(parse_quantity("2 kHz", "frequency"))
'2 kilohertz'
"""

from __future__ import annotations

import math
from numbers import Real

import pint

from .errors import UnitError

__all__ = [
    "ureg",
    "Quantity",
    "parse_quantity",
    "frequency_hz",
    "length_mm",
    "format_quantity",
    "hz_to_rpm",
    "rpm_to_hz",
]

ureg = pint.UnitRegistry(on_redefinition="ignore", force_ndarray_like=True)
# The default registry's "px" is a CSS pixel (1/96 inch) and "rpm" is 2*pi rad/min
# (so 1200 rpm would be 125.7 Hz). vibmag wants a pixel that never silently
# becomes a length (pint's image pixel, its own dimension), and rpm as a
# rotation rate: 1 rpm = 1/60 Hz.
ureg.define("pixel = [printing_unit] = px")
ureg.define("revolutions_per_minute = 1 / minute = rpm")
# pint-xarray's .pint.quantify() reads ``units`` attributes with pint's application
# registry; make that vibmag's, so "px" stays a pixel there too (pint's default
# would read it as 1/96 inch and convert it to mm without a pixel size).
pint.set_application_registry(ureg)
Quantity = ureg.Quantity
PIXEL = ureg.Unit("px")

_DIMENSIONS = {
    "frequency": ("1 / [time]", "Hz", "a frequency (e.g. '20 Hz', '2 kHz', '1200 rpm')"),
    "time": ("[time]", "s", "a time (e.g. '0.5 s', '20 ms')"),
    "length": ("[length]", "mm", "a length on the object (e.g. '0.05 mm', '50 um')"),
    "pixel": (PIXEL.dimensionality, "px", "a number of pixels (e.g. '0.5 px')"),
}


def parse_quantity(value, kind: str, *, bare_unit: str | None = None) -> pint.Quantity:
    """Parse ``value`` as a quantity of dimension ``kind``.

    Parameters
    ----------
    value : str, pint.Quantity or real number
        ``"2 kHz"``, ``Quantity(20, "Hz")``, or a bare number when
        ``bare_unit`` is given (then the number is taken in that unit).
    kind : {"frequency", "time", "length", "pixel"}
        The expected physical dimension.
    bare_unit : str, optional
        Unit of a bare number. Without it, bare numbers are refused.

    Returns
    -------
    pint.Quantity
        In vibmag's registry, in the unit the user gave.

    Raises
    ------
    UnitError
        If the value cannot be parsed, has another dimension, or is a bare
        number where a unit is required. The message names what was expected.
    """
    dimension, _, expected = _DIMENSIONS[kind]
    if isinstance(value, Real) and not isinstance(value, bool):
        if bare_unit is None:
            raise UnitError(f"{value!r} has no unit: expected {expected}")
        quantity = Quantity(float(value), bare_unit)
    elif isinstance(value, pint.Quantity):
        quantity = Quantity(value.magnitude, str(value.units))
    elif isinstance(value, str):
        quantity = _parse_string(value, expected)
    else:
        raise UnitError(f"cannot read {value!r} as {expected}")
    if quantity.dimensionality != ureg.get_dimensionality(dimension):
        raise UnitError(f"{value!r} is not {expected}: its dimension is {quantity.dimensionality}")
    if not math.isfinite(float(quantity.magnitude)):
        raise UnitError(f"{value!r} is not finite: expected {expected}")
    return quantity


def _parse_string(text: str, expected: str) -> pint.Quantity:
    """Parse a string such as '20 Hz' or '15Hz'; raise UnitError naming ``expected``."""
    try:
        quantity = ureg.Quantity(text.strip())
    except Exception as exc:  # noqa: BLE001  pint's parser raises PintError, ValueError, TokenError, even AssertionError (on ":")
        raise UnitError(f"cannot parse {text!r}: expected {expected}") from exc
    if not isinstance(quantity, pint.Quantity) or (quantity.unitless and not any(c.isalpha() for c in text.replace("e", ""))):
        raise UnitError(f"{text!r} has no unit: expected {expected}")
    return quantity


def frequency_hz(value, *, bare_unit: str | None = None) -> float:
    """A frequency (``"2 kHz"``, ``"1200 rpm"``, a Quantity) as a float in Hz."""
    return float(parse_quantity(value, "frequency", bare_unit=bare_unit).to("Hz").magnitude)


def length_mm(value, *, bare_unit: str | None = None) -> float:
    """A length on the object (``"0.05 mm"``, ``"50 um"``) as a float in mm."""
    return float(parse_quantity(value, "length", bare_unit=bare_unit).to("mm").magnitude)


def format_quantity(magnitude: float, unit: str) -> str:
    """Format a number and unit as a string pint parses: ``format_quantity(15000.0, "Hz")`` -> ``'15000 Hz'``."""
    return f"{magnitude:.12g} {unit}"


def rpm_to_hz(rpm: float) -> float:
    """Rotation rate in rpm to frequency in Hz (exact: divide by 60)."""
    return rpm / 60.0


def hz_to_rpm(hz: float) -> float:
    """Frequency in Hz to rotation rate in rpm (exact: multiply by 60)."""
    return hz * 60.0
