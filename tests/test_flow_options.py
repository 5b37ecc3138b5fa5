"""The displacement estimator's options reach it from every front end: survey, the CLI, the report and batch.

The scene: a speckle plate with a rigid 0.1 px mode at 125 Hz, lit by a 10 px
blob whose brightness swings by 6 % at 40 Hz. Nothing moves at 40 Hz, so a
40 Hz line in the displacement spectrum is the light read as motion; with
``highpass=4`` (each frame's 4 px local mean removed before the fit,
docs/flow.md) it is not.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import vibmag
from vibmag import batch
from vibmag.analysis import spectrum
from vibmag.batch.settings import parse_settings
from vibmag.cli import main, parse_flow_option
from vibmag.errors import OptionError, OptionValueError
from vibmag.pipeline import peak_table, survey
from vibmag.synthetic import Mode, vibrating_plate

HIGHPASS = {"highpass": 4.0}
LIGHT_HZ, MODE_HZ = 40.0, 125.0


@pytest.fixture(scope="module")
def lit_plate():
    ds = vibrating_plate((64, 64), n_frames=64, frame_rate="1 kHz", noise=1 / 255, seed=4,
                         modes=(Mode(f"{MODE_HZ} Hz", 0.1, direction=30),))
    t = np.arange(64) / 1000.0
    y, x = np.mgrid[:64, :64]
    light = 0.06 * np.sin(2 * np.pi * LIGHT_HZ * t)[:, None, None] * np.exp(-((x - 30) ** 2 + (y - 34) ** 2) / 200.0)
    return ds.assign(frames=(ds["frames"].dims, (ds["frames"].values + light).astype(np.float32)))


@pytest.fixture(scope="module")
def surveys(lit_plate):
    """The survey of the lit plate as recorded and with the high-pass option."""
    return {name: survey(lit_plate, flow_options=options, progress=False)
            for name, options in (("plain", None), ("highpass", HIGHPASS))}


def at(spec: xr.DataArray, hz: float) -> np.ndarray:
    """The spectrum's amplitude (px) per component at the bin nearest ``hz``."""
    return spec.sel(frequency=hz, method="nearest").values


def test_survey_with_highpass_reads_no_light_as_motion_and_keeps_the_mode(lit_plate, surveys):
    truth = spectrum(lit_plate["true_displacement"])
    assert np.all(at(truth, LIGHT_HZ) < 1e-9)
    # measured: 0.027 / 0.023 px as recorded, 0.0029 / 0.0028 px with the option
    assert np.all(at(surveys["plain"]["spectrum"], LIGHT_HZ) > 0.02)
    assert np.all(at(surveys["highpass"]["spectrum"], LIGHT_HZ) < 0.2 * at(surveys["plain"]["spectrum"], LIGHT_HZ))
    mode = peak_table(surveys["highpass"]).isel(peak=0)
    assert float(mode["frequency"]) == pytest.approx(MODE_HZ, abs=0.5)
    assert np.all(np.abs(mode["amplitude"].values - at(truth, MODE_HZ)) < 3 * mode["amplitude_sigma"].values)


def test_misspelt_or_bad_options_are_refused_by_name(lit_plate):
    with pytest.raises(OptionError, match="unknown option 'hipass' \\(did you mean 'highpass'\\?\\)"):
        survey(lit_plate, flow_options={"hipass": 4.0})
    with pytest.raises(OptionValueError, match="must be a dict"):
        survey(lit_plate, flow_options="highpass=4")
    with pytest.raises(OptionValueError, match="highpass must be a positive"):
        vibmag.report(lit_plate, "unused.html", flow_options={"highpass": -1.0})


def test_parse_flow_option_reads_numbers_booleans_none_and_tuples():
    import argparse

    assert parse_flow_option("highpass=4") == ("highpass", 4)
    assert parse_flow_option(" window = 2.5 ") == ("window", 2.5)
    assert parse_flow_option("bias_correction=false") == ("bias_correction", False)
    assert parse_flow_option("max_window=None") == ("max_window", None)
    assert parse_flow_option("iterations=1,3") == ("iterations", (1, 3))
    for bad in ("highpass", "=4", "highpass="):
        with pytest.raises(argparse.ArgumentTypeError, match="NAME=VALUE"):
            parse_flow_option(bad)


@pytest.fixture(scope="module")
def lit_file(lit_plate, tmp_path_factory):
    path = tmp_path_factory.mktemp("lit") / "lit.h5"
    vibmag.save(lit_plate[["frames"]], path)
    return path


def test_analyze_with_flow_option_is_the_survey_with_it(lit_file, surveys, tmp_path):
    out = tmp_path / "out"
    assert main(["analyze", str(lit_file), "-o", str(out), "--peaks", "3", "--flow-option", "highpass=4"]) == 0
    written = vibmag.load(out / "analysis.h5")
    np.testing.assert_allclose(written["spectrum"].values, surveys["highpass"]["spectrum"].values, rtol=1e-5, atol=1e-8)
    first = (out / "peaks.csv").read_text().splitlines()[1].split(",")
    assert float(first[0]) == pytest.approx(MODE_HZ, abs=0.5)


def test_analyze_refuses_a_misspelt_option_before_writing_anything(lit_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", str(lit_file), "-o", str(out), "--flow-option", "hipass=4"]) == 2
    assert "unknown option 'hipass' (did you mean 'highpass'?)" in capsys.readouterr().err and not out.exists()


def test_magnify_with_flow_option_is_the_function_with_it(lit_file, lit_plate, tmp_path):
    out = tmp_path / "m.h5"
    assert main(["magnify", str(lit_file), "-o", str(out), "--alpha", "10", "--method", "lagrangian",
                 "--band", "100Hz:150Hz", "--flow-option", "highpass=4"]) == 0
    written = vibmag.open_recording(out)
    expected = vibmag.magnify(vibmag.open_recording(lit_file), 10.0, band=("100 Hz", "150 Hz"), method="lagrangian",
                              flow_options=HIGHPASS, progress=False)
    assert "highpass=4" in written.attrs["model"]
    np.testing.assert_allclose(written["frames"].values, expected["frames"].values, atol=1e-6)


def test_report_measures_with_the_options_and_records_them(lit_plate, surveys, tmp_path):
    done = vibmag.report(lit_plate, tmp_path / "r.html", method="lagrangian", n_peaks=2, flow_options=HIGHPASS,
                         max_clip_frames=32, progress=False)
    assert done.data["settings"]["flow_options"] == HIGHPASS
    expected = peak_table(surveys["highpass"])
    assert done.data["peaks"][0]["frequency_hz"] == pytest.approx(float(expected["frequency"][0]), rel=1e-6)
    assert "highpass=4.0" in done.data["clip"]["model"]
    # a clip whose method measures no displacement does without the options, the measurement keeps them
    linear = vibmag.report(lit_plate, tmp_path / "l.html", method="linear", n_peaks=2, flow_options=HIGHPASS,
                           max_clip_frames=32, progress=False)
    assert linear.data["peaks"][0]["frequency_hz"] == done.data["peaks"][0]["frequency_hz"]


def test_batch_measures_tiles_with_the_options(lit_file, lit_plate, surveys):
    settings = {"analysis": {"flow_options": HIGHPASS, "n_peaks": 2},
                "parallel": {"tile_above_mb": 0.5, "tile_size": 32, "tile_margin": 16}}
    result = batch.process_recording(lit_file, settings=settings).dataset
    assert result.attrs["tiles"] == 4
    spec = result["spectrum"].isel(region=0)
    np.testing.assert_allclose(spec.values, surveys["highpass"]["spectrum"].values, atol=0.002)
    assert np.all(at(spec, LIGHT_HZ) < 0.2 * at(surveys["plain"]["spectrum"], LIGHT_HZ))


def test_batch_settings_check_the_options_against_the_estimator_and_keep_old_digests():
    assert parse_settings({}).digest() == parse_settings({"analysis": {"flow_options": {}}}).digest()
    with_option = parse_settings({"analysis": {"flow_options": HIGHPASS}})
    assert with_option.digest() != parse_settings({}).digest()
    assert parse_settings(with_option.to_dict()) == with_option
    with pytest.raises(ValueError, match="analysis.flow_options: unknown option 'hipass'"):
        parse_settings({"analysis": {"flow_options": {"hipass": 4.0}}})
