"""Zero-phase filters: pass bands, stop bands, validation, labels, dask."""

from __future__ import annotations

import numpy as np
import pint_xarray  # noqa: F401
import pytest
import xarray as xr

import vibmag
from vibmag.analysis import AnalysisError, BandError, bandpass, bandstop, highpass, lowpass
from vibmag.errors import UnitError

MIDDLE = slice(1000, 3000)  # away from the record's edges (4000 samples at 1 kHz)


def gain(filtered, original_amplitude, f, fit):
    return fit(filtered.values, f, keep=MIDDLE) / original_amplitude


@pytest.mark.parametrize("method", ["butter", "fir"])
def test_bandpass_passes_band_within_1_percent(make_tones, fit_amplitude, method):
    for f in (30.0, 40.0, 55.0):
        x = make_tones([(0.7, f, 0.4)], n=4000)
        assert gain(bandpass(x, "20 Hz", "80 Hz", method=method), 0.7, f, fit_amplitude) == pytest.approx(1, abs=0.01)


@pytest.mark.parametrize("method", ["butter", "fir"])
def test_bandpass_attenuates_40_db_two_octaves_away(make_tones, fit_amplitude, method):
    for f in (20.0 / 4, 80.0 * 4):
        x = make_tones([(1.0, f, 0.0)], n=4000)
        assert gain(bandpass(x, "20 Hz", "80 Hz", method=method), 1.0, f, fit_amplitude) <= 10 ** (-40 / 20)


@pytest.mark.parametrize("method", ["butter", "fir"])
def test_lowpass_and_highpass_split_two_tones(make_tones, fit_amplitude, method):
    x = make_tones([(1.0, 10.0, 0.0), (1.0, 200.0, 0.0)], n=4000)
    low, high = lowpass(x, "50 Hz", method=method), highpass(x, "50 Hz", method=method)
    assert gain(low, 1.0, 10.0, fit_amplitude) == pytest.approx(1, abs=0.01)
    assert gain(low, 1.0, 200.0, fit_amplitude) < 0.01
    assert gain(high, 1.0, 200.0, fit_amplitude) == pytest.approx(1, abs=0.01)
    assert gain(high, 1.0, 10.0, fit_amplitude) < 0.01


@pytest.mark.parametrize("method", ["butter", "fir"])
def test_bandstop_removes_tones_and_keeps_the_rest(make_tones, fit_amplitude, method):
    x = make_tones([(1.0, 13.0, 0.2), (0.5, 50.0, 1.0), (0.5, 100.0, 2.0)], n=4000)
    y = bandstop(x, [("45 Hz", "55 Hz"), ("95 Hz", "105 Hz")], method=method)
    assert gain(y, 0.5, 50.0, fit_amplitude) < 0.01
    assert gain(y, 0.5, 100.0, fit_amplitude) < 0.01
    assert gain(y, 1.0, 13.0, fit_amplitude) == pytest.approx(1, abs=0.01)


def test_bandstop_bands_combine_like_chained_calls(make_tones):
    x = make_tones([(1.0, 13.0, 0.2), (0.5, 50.0, 1.0), (0.5, 100.0, 2.0)], n=4000)
    both = bandstop(x, [("45 Hz", "55 Hz"), ("95 Hz", "105 Hz")])
    chained = bandstop(bandstop(x, ("45 Hz", "55 Hz")), ("95 Hz", "105 Hz"))
    np.testing.assert_allclose(both[MIDDLE], chained[MIDDLE], atol=1e-4)


def test_frequencies_in_rpm_and_quantities_are_the_same_band(make_tones):
    x = make_tones([(1.0, 30.0, 0.0), (1.0, 5.0, 0.0)], n=2000)
    reference = bandpass(x, "20 Hz", "80 Hz")
    xr.testing.assert_identical(bandpass(x, "1200 rpm", "4800 rpm"), reference)
    xr.testing.assert_identical(bandpass(x, vibmag.ureg.Quantity(0.02, "kHz"), "80 Hz"), reference)


def test_rate_from_time_coordinate_when_attr_missing(make_tones):
    with_attr = make_tones([(1.0, 30.0, 0.0)], n=1000)
    without = make_tones([(1.0, 30.0, 0.0)], n=1000, frame_rate_attr=False)
    np.testing.assert_array_equal(bandpass(without, "20 Hz", "80 Hz").values, bandpass(with_attr, "20 Hz", "80 Hz").values)


def test_keeps_dims_coords_attrs_and_float32(two_modes):
    disp = two_modes.disp.transpose("component", "y", "time", "x")
    out = bandpass(disp, "20 Hz", "80 Hz")
    assert out.dims == disp.dims and out.dtype == np.float32 and out.name == "displacement"
    assert out.attrs == disp.attrs
    xr.testing.assert_identical(out.coords.to_dataset(), disp.coords.to_dataset())


def test_dask_chunked_over_space_matches_numpy(two_modes):
    disp = two_modes.disp
    lazy = bandpass(disp.chunk({"y": 7, "x": 10, "time": 300}), "20 Hz", "80 Hz")
    assert lazy.chunks is not None
    assert lazy.chunksizes["time"] == (disp.sizes["time"],)
    np.testing.assert_allclose(lazy.compute().values, bandpass(disp, "20 Hz", "80 Hz").values, rtol=0, atol=1e-6)


def test_pint_quantified_input_keeps_its_units(make_tones):
    x = make_tones([(1.0, 30.0, 0.0)], n=1000)
    quantified = x.pint.quantify()
    out = bandpass(quantified, "20 Hz", "80 Hz")
    assert out.data.units == quantified.data.units
    np.testing.assert_allclose(out.pint.dequantify().values, bandpass(x, "20 Hz", "80 Hz").values)


def test_top_level_names_are_these_functions():
    assert vibmag.bandpass is bandpass and vibmag.bandstop is bandstop
    assert vibmag.lowpass is lowpass and vibmag.highpass is highpass


def test_accessor_delegates(make_tones):
    x = make_tones([(1.0, 30.0, 0.0)], n=1000)
    xr.testing.assert_identical(x.vib.bandpass("20 Hz", "80 Hz", order=2), bandpass(x, "20 Hz", "80 Hz", order=2))
    xr.testing.assert_identical(x.vib.bandstop(("20 Hz", "40 Hz")), bandstop(x, ("20 Hz", "40 Hz")))


@pytest.mark.parametrize(
    ("low", "high", "error", "message"),
    [
        ("20 Hz", "600 Hz", BandError, r"high = 600 Hz is at or above the Nyquist frequency 500 Hz"),
        ("20 Hz", "30000 rpm", BandError, r"Nyquist frequency 500 Hz"),
        ("80 Hz", "20 Hz", BandError, r"low = 80 Hz must be below high = 20 Hz"),
        ("20 Hz", "20 Hz", BandError, r"must be below high"),
        ("0 Hz", "20 Hz", BandError, r"low = 0 Hz must be above 0 Hz"),
        ("20 mm", "80 Hz", UnitError, r"'20 mm' is not a frequency"),
        (20, "80 Hz", UnitError, r"20 has no unit"),
    ],
)
def test_bad_bands_give_clear_errors(make_tones, low, high, error, message):
    with pytest.raises(error, match=message):
        bandpass(make_tones([(1.0, 30.0, 0.0)], n=1000), low, high)


def test_too_short_record_says_how_many_samples_are_needed(make_tones):
    with pytest.raises(BandError, match=r"needs more than 27 samples along time .* got 20"):
        bandpass(make_tones([(1.0, 30.0, 0.0)], n=20), "20 Hz", "80 Hz")
    with pytest.raises(BandError, match=r"needs more than \d+ samples .* fewer numtaps"):
        bandpass(make_tones([(1.0, 30.0, 0.0)], n=200), "20 Hz", "80 Hz", method="fir")


def test_other_bad_input_gives_clear_errors(make_tones):
    x = make_tones([(1.0, 30.0, 0.0)], n=1000)
    with pytest.raises(AnalysisError, match="1 NaN or infinite values"):
        bandpass(x.where(x.time != x.time[5]), "20 Hz", "80 Hz")
    with pytest.raises(AnalysisError, match=r"needs dims \('time',\)"):
        bandpass(x.rename(time="t"), "20 Hz", "80 Hz")
    with pytest.raises(BandError, match="band 1 high = 55 Hz must be below band 2 low = 50 Hz"):
        bandstop(x, [("45 Hz", "55 Hz"), ("50 Hz", "60 Hz")])
    with pytest.raises(BandError, match=r"\(low, high\) pair"):
        bandstop(x, "50 Hz")
    with pytest.raises(AnalysisError, match="numtaps must be an odd integer"):
        highpass(x, "50 Hz", method="fir", numtaps=100)
    with pytest.raises(AnalysisError, match="method must be one of"):
        lowpass(x, "50 Hz", method="cheby")
