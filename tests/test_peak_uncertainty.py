"""Peak amplitudes with their uncertainty: the survey, the CLI's peaks.csv and the spectrum plot."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

import vibmag
from vibmag.analysis import find_peaks, spectrum
from vibmag.analysis.spectra import SNR_MIN
from vibmag.cli import main
from vibmag.pipeline import survey
from vibmag.pipeline.surveying import peak_table
from vibmag.synthetic import Mode, vibrating_plate
from vibmag.viz import plot_spectrum


@pytest.fixture(scope="module")
def noisy_plate():
    # a 125 Hz mode of 0.3 px along x, noise 2/255: the mode stands far above the noise, nothing else does
    return vibrating_plate((48, 48), n_frames=64, frame_rate="1 kHz", modes=[Mode("125 Hz", 0.3)], noise=2 / 255)


def test_survey_peaks_carry_sigma_and_snr_from_the_displacement_uncertainty(noisy_plate):
    summary = survey(noisy_plate, progress=False)
    table = peak_table(summary)
    assert {"amplitude_sigma", "noise_floor", "snr"} <= set(table.data_vars)
    assert table["amplitude_sigma"].attrs["units"] == "px" and summary["noise"].dims == ("component",)
    top = table.isel(peak=0)
    assert float(top["frequency"]) == pytest.approx(125.0, abs=0.1) and float(top["snr"]) > 10 * SNR_MIN
    # the noise the survey used is the measured displacement's frame-to-frame noise: its error against the truth
    # less the error's temporal mean (the reference frame's own noise, the same offset in every frame)
    measured = vibmag.estimate_displacement(noisy_plate, return_uncertainty=True)
    error = (measured["displacement"] - noisy_plate["true_displacement"]).isel(time=slice(1, None))
    varying = (error - error.mean("time")).isel(y=slice(16, -16), x=slice(16, -16))
    error_rms = float(np.sqrt((varying**2).mean()))
    assert float(summary["noise"].mean()) == pytest.approx(error_rms, rel=0.3)
    # the mode is rigid, 0.3 px along x everywhere
    assert float(top["amplitude"].sel(component="x")) == pytest.approx(0.3, rel=0.02)


def test_analyze_writes_amplitude_sigma_and_snr_columns(tmp_path, noisy_plate, capsys):
    path = tmp_path / "plate.h5"
    vibmag.save(noisy_plate[["frames"]], path)
    assert main(["analyze", str(path), "-o", str(tmp_path / "out"), "--peaks", "3"]) == 0
    lines = (tmp_path / "out" / "peaks.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header == ["frequency_hz", "rpm", "amplitude_x_px", "amplitude_y_px", "q", "amplitude_sigma_x_px",
                      "amplitude_sigma_y_px", "snr", "cycles"]
    first = dict(zip(header, (float(v) for v in lines[1].split(","))))
    assert first["frequency_hz"] == pytest.approx(125.0, abs=0.1)
    assert first["cycles"] == pytest.approx(125.0 * 64 / 1000.0, rel=1e-3)  # 125 Hz over 64 frames at 1 kHz
    assert 0 < first["amplitude_sigma_x_px"] < 0.03 * first["amplitude_x_px"] and first["snr"] > 10


def test_spectrum_plot_draws_the_floor_and_labels_only_peaks_above_it():
    t = np.arange(1000) / 1000.0
    rng = np.random.default_rng(2)
    x = xr.DataArray(np.stack([0.5 * np.sin(2 * np.pi * 50.3 * t) + rng.normal(0, 0.05, t.size),
                               rng.normal(0, 0.05, t.size)], axis=1), dims=("time", "component"),
                     coords={"time": t, "component": ["x", "y"]}, attrs={"units": "px", "frame_rate": "1000 Hz"})
    spec = spectrum(x)
    peaks = find_peaks(spec, n=6, min_prominence=0.0, noise=0.05)
    assert peaks.sizes["peak"] == 6 and int((peaks["snr"] >= SNR_MIN).sum()) == 1
    drawn = plot_spectrum(spec, peaks=peaks, ax=Figure().subplots())
    assert [label.get_text() for label in drawn["labels"]] == ["50.3 Hz"]
    assert len(drawn["noise_floor"]) == 2
    floor = float(drawn["noise_floor"][0].get_ydata()[0])
    assert floor == pytest.approx(float(spec.sel(frequency=slice(100, 450)).mean()), rel=0.15)
    plain = plot_spectrum(spec, peaks=find_peaks(spec, n=6, min_prominence=0.0), ax=Figure().subplots())
    assert len(plain["labels"]) == 6 and plain["noise_floor"] == []
