"""The work on one recording: an untiled recording gives exactly vibmag.survey's numbers; region summaries."""

from __future__ import annotations

import numpy as np

import vibmag
from vibmag.batch import process_recording, region_summary
from vibmag.survey import dominant_band, peak_table, plot_survey, survey


def test_an_untiled_recording_gives_exactly_the_survey(plate_folder, plates):
    result = process_recording(plate_folder / "p45.h5", settings={"input": {"dataset": "/cam0/frames"}}).dataset
    alone = survey(vibmag.open_recording(plate_folder / "p45.h5", dataset="/cam0/frames"), progress=False)
    assert result.attrs["tiles"] == 1 and list(result["region"].values) == ["frame"]
    for name in ("rms", "peak_to_peak"):
        np.testing.assert_array_equal(result[name].values, alone[name].values, strict=True)
    for name in ("spectrum", "waveform"):
        np.testing.assert_array_equal(result[name].sel(region="frame").values, alone[name].values, strict=True)
    found = alone.sizes["peak"]
    assert found >= 1 and np.isnan(result["peak_frequency"].values[0, found:]).all()
    for name in ("peak_frequency", "peak_amplitude", "peak_q"):
        np.testing.assert_array_equal(result[name].sel(region="frame").isel(peak=slice(0, found)).values, alone[name].values)
    # the error parts: the measurement's own noise, and the systematic part, as survey takes them
    for name in ("peak_noise_floor", "peak_amplitude_sigma", "peak_snr", "peak_amplitude_systematic"):
        np.testing.assert_allclose(result[name].sel(region="frame").isel(peak=slice(0, found)).values, alone[name].values, rtol=1e-9)
    np.testing.assert_allclose(result["noise"].sel(region="frame").values, alone["noise"].values, rtol=1e-9)
    np.testing.assert_allclose(alone["peak_frequency"][0], plates["p45"][0], atol=0.05)


def test_a_region_summary_is_in_the_survey_layout(references, tmp_path):
    result = references["p30"].dataset
    left = region_summary(result, "left")
    assert "region" not in left.dims and left.sizes["peak"] == 1 and dict(left["spectrum"].sizes) == {"frequency": 33, "component": 2}
    assert float(peak_table(left)["frequency"][0]) == float(result["peak_frequency"].sel(region="left")[0])
    low, high = (float(edge.split()[0]) for edge in dominant_band(left))
    assert low < 31.25 < high
    assert plot_survey(region_summary(result), tmp_path / "frame.png").read_bytes()[:4] == b"\x89PNG"


def test_without_the_error_parts_the_noise_floor_is_read_off_the_spectrum(plate_folder):
    settings = {"input": {"dataset": "/cam0/frames"}, "analysis": {"uncertainty": False}}
    result = process_recording(plate_folder / "p45.h5", settings=settings).dataset.sel(region="frame")
    ds = vibmag.open_recording(plate_folder / "p45.h5", dataset="/cam0/frames")
    alone = survey(ds, displacement=vibmag.estimate_displacement(ds, progress=False))
    assert "noise" not in result and "peak_amplitude_systematic" not in result
    found = alone.sizes["peak"]
    for name in ("peak_amplitude", "peak_noise_floor", "peak_amplitude_sigma", "peak_snr"):
        np.testing.assert_array_equal(result[name].isel(peak=slice(0, found)).values, alone[name].values)
