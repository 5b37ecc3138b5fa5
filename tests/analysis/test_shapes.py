"""Deflection shapes of a two-mode field; unit conversions px -> mm and Hz <-> rpm."""

from __future__ import annotations

import numpy as np
import pint_xarray  # noqa: F401
import pytest
import xarray as xr

from vibmag import synthetic
from vibmag.analysis import (AnalysisError, BandError, deflection_shape, find_peaks, mac, shape_magnitude,
                             shape_phase, spectrum, to_physical, with_rpm)
from vibmag.units import frequency_hz, hz_to_rpm, rpm_to_hz


def true_mode_peaks(two_modes):
    peaks = find_peaks(spectrum(two_modes.disp), n=2)
    return peaks.sortby("frequency")


def test_peaks_come_at_the_true_frequencies(two_modes):
    peaks = true_mode_peaks(two_modes)
    bin_width = 1000.0 / two_modes.n
    np.testing.assert_allclose(peaks["frequency"].values, two_modes.frequencies, atol=bin_width / 10)


@pytest.mark.parametrize("mode", [0, 1])
def test_deflection_shapes_match_the_true_mode_shapes(two_modes, mode):
    frequency = float(true_mode_peaks(two_modes)["frequency"][mode])
    shape = deflection_shape(two_modes.disp, f"{frequency} Hz")
    assert shape.dims == ("component", "y", "x") and np.iscomplexobj(shape.values)
    assert shape.attrs["units"] == "px" and shape.attrs["frequency"].endswith(" Hz")
    truth = two_modes.shapes[mode]
    assert mac(shape.values, truth) >= 0.99
    aligned = (shape * np.exp(-1j * np.angle(shape.values.ravel() @ truth.ravel()))).real.values
    assert np.corrcoef(aligned.ravel(), truth.ravel())[0, 1] >= 0.99
    # magnitude: the mode amplitude times |shape|; phase: sine phase = cosine phase + 90 deg
    np.testing.assert_allclose(shape_magnitude(shape).values, two_modes.amplitudes[mode] * np.abs(truth), atol=0.01)
    strongest = np.unravel_index(np.argmax(np.abs(truth)), truth.shape)
    expected_phase = np.degrees(two_modes.phases[mode] - np.pi / 2 + (np.pi if truth[strongest] < 0 else 0))
    measured = float(shape_phase(shape)[strongest])
    assert (measured - expected_phase + 180) % 360 - 180 == pytest.approx(0, abs=2)


def test_shape_phase_relative_to_a_reference_pixel(two_modes):
    shape = deflection_shape(two_modes.disp, "121.7 Hz")
    phase = shape_phase(shape, reference=(2, 5))
    assert phase.attrs["units"] == "deg" and abs(float(phase.sel(component="x", y=2, x=5))) < 1e-9
    # the second mode changes sign between the left and right halves: 180 deg apart
    assert abs(float(phase.sel(component="x", y=2, x=22))) == pytest.approx(180, abs=3)


def test_deflection_shape_dask_matches_numpy(two_modes):
    lazy = deflection_shape(two_modes.disp.chunk({"y": 7, "x": 9}), "37.3 Hz")
    assert lazy.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), deflection_shape(two_modes.disp, "37.3 Hz"))


def test_deflection_shape_errors(two_modes):
    with pytest.raises(BandError, match="Nyquist frequency 500 Hz"):
        deflection_shape(two_modes.disp, "600 Hz")
    with pytest.raises(AnalysisError, match="same size"):
        mac(np.ones(3), np.ones(4))


def test_vibrating_plate_ground_truth():
    modes = [synthetic.Mode("62.5 Hz", 0.5, direction=90, shape="bending"),
             synthetic.Mode("187.5 Hz", 0.2, direction=0, shape="bending2")]
    scene = synthetic.vibrating_plate((8, 16), n_frames=64, frame_rate="1 kHz", modes=modes, supersample=1)
    disp = scene["true_displacement"]
    peaks = find_peaks(spectrum(disp), n=2).sortby("frequency")
    # Both modes lie on bins (4 and 12 of 15.625 Hz) of a noise-free field, where the peak is read exactly
    # (measured: within 1e-14 Hz); 1e-6 Hz leaves rounding room and fails any error near a bin (15.6 Hz).
    np.testing.assert_allclose(peaks["frequency"].values, [62.5, 187.5], rtol=0, atol=1e-6)
    x = np.arange(16)
    first = np.stack([np.zeros((8, 16)), np.tile(np.sin(np.pi * (x + 0.5) / 16), (8, 1))])
    second = np.stack([np.tile(np.sin(2 * np.pi * (x + 0.5) / 16), (8, 1)), np.zeros((8, 16))])
    assert mac(deflection_shape(disp, "62.5 Hz").values, first) >= 0.99
    assert mac(deflection_shape(disp, "187.5 Hz").values, second) >= 0.99


def test_px_to_mm_is_exact(two_modes):
    disp = two_modes.disp
    mm = to_physical(disp)
    assert mm.attrs["units"] == "mm" and mm.dtype == disp.dtype
    np.testing.assert_array_equal(mm.values, disp.values * np.float32(0.05))
    psd = to_physical(spectrum(disp, scaling="psd"))
    assert psd.attrs["units"] == "mm**2/Hz"
    np.testing.assert_array_equal(psd.values, spectrum(disp, scaling="psd").values * 0.05**2)
    table = to_physical(find_peaks(spectrum(disp), n=2))
    assert table["amplitude"].attrs["units"] == "mm" and table["frequency"].attrs["units"] == "Hz"
    assert to_physical(disp.drop_attrs().assign_attrs(units="px"), pixel_size="2 um").attrs["pixel_size"] == "0.002 mm"
    unchanged = to_physical(mm)
    np.testing.assert_array_equal(unchanged.values, mm.values)


def test_px_to_mm_of_pint_quantified_data(two_modes):
    quantified = two_modes.disp.pint.quantify()  # pint-xarray's default registry reads px as css_pixel
    mm = to_physical(quantified)
    assert str(mm.data.units) == "millimeter"
    np.testing.assert_array_equal(mm.pint.dequantify().values, two_modes.disp.values * np.float32(0.05))


def test_px_to_mm_without_pixel_size_says_so(two_modes):
    disp = two_modes.disp.drop_attrs().assign_attrs(units="px")
    with pytest.raises(AnalysisError, match=r"needs the pixel size: the data has no attrs\['pixel_size'\]"):
        to_physical(disp)


def test_hz_rpm_conversions_are_exact(two_modes):
    assert frequency_hz("1200 rpm") == 20.0 and hz_to_rpm(20.0) == 1200.0 and rpm_to_hz(1470.0) == 24.5
    spec = with_rpm(spectrum(two_modes.disp))
    np.testing.assert_array_equal(spec["rpm"].values, spec["frequency"].values * 60)
    assert spec["rpm"].attrs["units"] == "rpm"
    peaks = find_peaks(spectrum(two_modes.disp), n=2)
    np.testing.assert_array_equal(peaks["rpm"].values, peaks["frequency"].values * 60)
