import pint
import pytest

from vibmag.errors import UnitError
from vibmag.units import format_quantity, frequency_hz, hz_to_rpm, length_mm, parse_quantity, rpm_to_hz, ureg


@pytest.mark.parametrize(
    ("text", "hz"),
    [("2 kHz", 2000.0), ("15000 Hz", 15000.0), ("15Hz", 15.0), ("1200 rpm", 20.0), ("90 1/min", 1.5)],
)
def test_frequencies_parse_to_hz(text, hz):
    assert frequency_hz(text) == pytest.approx(hz, rel=1e-12)


@pytest.mark.parametrize(("text", "mm"), [("0.05 mm", 0.05), ("50 um", 0.05), ("2 cm", 20.0), ("1 m", 1000.0)])
def test_lengths_parse_to_mm(text, mm):
    assert length_mm(text) == pytest.approx(mm, rel=1e-12)


def test_quantities_and_bare_numbers():
    assert frequency_hz(ureg.Quantity(3, "kHz")) == 3000.0
    assert frequency_hz(pint.UnitRegistry().Quantity(60, "Hz")) == 60.0
    assert frequency_hz(7, bare_unit="Hz") == 7.0
    with pytest.raises(UnitError, match="has no unit: expected a frequency"):
        frequency_hz(7)


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("20 mm", "frequency", r"'20 mm' is not a frequency .*\[length\]"),
        ("20 Hz", "length", r"'20 Hz' is not a length"),
        ("3 px", "length", "is not a length"),
        ("fast", "frequency", "cannot parse 'fast': expected a frequency"),
        ("12", "frequency", "has no unit"),
        ("nan Hz", "frequency", "not finite"),
        ([1, 2], "frequency", "cannot read"),
    ],
)
def test_wrong_dimension_names_what_was_expected(value, kind, message):
    with pytest.raises(UnitError, match=message):
        parse_quantity(value, kind)


def test_pixel_is_its_own_dimension():
    assert parse_quantity("0.5 px", "pixel").to("px").magnitude == 0.5
    with pytest.raises(pint.DimensionalityError):
        ureg.Quantity(1, "px").to("mm")


def test_rpm_conversions_are_exact():
    assert rpm_to_hz(1200.0) == 20.0 and hz_to_rpm(20.0) == 1200.0
    assert ureg.Quantity(1200, "rpm").to("Hz").magnitude == pytest.approx(20.0, rel=1e-15)


def test_format_quantity_round_trips():
    text = format_quantity(15000.0, "Hz")
    assert text == "15000 Hz" and frequency_hz(text) == 15000.0
    assert frequency_hz(format_quantity(1 / 3, "Hz")) == pytest.approx(1 / 3, rel=1e-11)


def test_pint_xarray_uses_vibmags_pixel():
    import pint_xarray  # noqa: F401
    import xarray as xr

    disp = xr.DataArray([1.0, 2.0], dims="time", attrs={"units": "px"}).pint.quantify()
    assert disp.pint.units == ureg.Unit("px")
    with pytest.raises(ValueError, match="Cannot convert") as info:  # pint-xarray's exception group
        disp.pint.to("mm")
    assert isinstance(info.value.exceptions[0], pint.DimensionalityError)
    speed = xr.DataArray([1200.0], dims="t", attrs={"units": "rpm"}).pint.quantify()
    assert float(speed.pint.to("Hz").pint.magnitude[0]) == pytest.approx(20.0)
