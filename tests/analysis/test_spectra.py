"""Spectra and peak picking against sinusoids of known amplitude and frequency."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vibmag.analysis import AnalysisError, find_peaks, resolved_peaks, spectrum, systematic_spectrum
from vibmag.analysis.spectra import SNR_MIN
from vibmag.errors import UnitError
from vibmag.synthetic import Mode, vibrating_plate
from vibmag.units import ureg

FS = 1000.0


def test_on_bin_sinusoids_read_their_amplitude(make_tones):
    x = make_tones({"x": [(0.25, 50.0, 0.3)], "y": [(1.5, 120.0, 1.0), (0.1, 300.0, 0.0)]}, n=1000)
    spec = spectrum(x)
    assert spec.dims == ("frequency", "component") and spec.attrs["units"] == "px"
    assert spec["frequency"].attrs["units"] == "Hz" and spec["frequency"][1] == 1.0
    assert float(spec.sel(frequency=50.0, component="x")) == pytest.approx(0.25, rel=0.02)
    assert float(spec.sel(frequency=120.0, component="y")) == pytest.approx(1.5, rel=0.02)
    assert float(spec.sel(frequency=300.0, component="y")) == pytest.approx(0.1, rel=0.02)
    assert float(spec.sel(component="y").idxmax()) == 120.0


@pytest.mark.parametrize("frequency", [37.3, 123.45, 250.5, 401.9])
@pytest.mark.parametrize("window", ["hann", "flattop"])
def test_peaks_read_amplitude_within_2_percent_and_frequency_within_one_bin(make_tones, frequency, window):
    x = make_tones([(0.8, frequency, 0.7)], n=1500)
    spec = spectrum(x, window=window)
    peak = find_peaks(spec, n=1)
    df = FS / 1500
    assert abs(float(peak["frequency"][0]) - frequency) < df / 10
    assert float(peak["amplitude"][0]) == pytest.approx(0.8, rel=0.02)
    # the spectrum's largest bin is the one nearest the true frequency (the interpolation starts there)
    nearest_bin = spec.sel(frequency=frequency, method="nearest")
    assert float(spec.idxmax()) == float(nearest_bin["frequency"])


@pytest.mark.parametrize("frequency", [50.0, 120.0, 300.0])
@pytest.mark.parametrize("window", ["hann", "flattop"])
def test_on_bin_peaks_report_the_bin_frequency_and_amplitude(make_tones, frequency, window):
    # 1000 samples at 1 kHz: 1 Hz bins, so these tones lie on bins and the window's response is symmetric
    # about the peak bin; the reported peak is that bin (measured: within 1e-13 Hz). 1e-6 Hz is rounding room.
    x = make_tones([(0.8, frequency, 0.7), (0.05, 437.0, 0.0)], n=1000)
    peak = find_peaks(spectrum(x, window=window), n=1)
    assert float(peak["frequency"][0]) == pytest.approx(frequency, rel=0, abs=1e-6)
    assert float(peak["amplitude"][0]) == pytest.approx(0.8, rel=1e-6)


def test_welch_keeps_amplitudes_and_sets_resolution(make_tones):
    x = make_tones([(0.5, 62.5, 0.0)], n=4000)
    by_samples = spectrum(x, welch=512)
    by_time = spectrum(x, welch="0.512 s")
    xr.testing.assert_identical(by_samples, by_time)
    assert by_samples.sizes["frequency"] == 257 and by_samples.attrs["resolution"] == "1.953125 Hz"
    assert float(by_samples.sel(frequency=62.5)) == pytest.approx(0.5, rel=0.02)


def test_psd_units_and_parseval(make_tones):
    rng = np.random.default_rng(1)
    x = make_tones([(0.3, 80.0, 0.0)], n=4096, units="mm")
    noisy = x + rng.normal(0.0, 0.05, x.shape)
    noisy.attrs = x.attrs
    psd = spectrum(noisy, scaling="psd")
    assert psd.attrs["units"] == "mm**2/Hz" and ureg.Unit(psd.attrs["units"]) == ureg.Unit("mm^2 / Hz")
    df = float(psd["frequency"][1])
    window = np.hanning(4097)[:-1]  # periodic Hann
    centred = noisy.values - noisy.values.mean()
    assert float(psd.sum()) * df == pytest.approx(np.sum((centred * window) ** 2) / np.sum(window**2), rel=1e-9)
    assert float(psd.sum()) * df == pytest.approx(0.3**2 / 2 + 0.05**2, rel=0.05)
    welch = spectrum(noisy, scaling="psd", welch=512)
    assert float(welch.sum()) * float(welch["frequency"][1]) == pytest.approx(0.3**2 / 2 + 0.05**2, rel=0.05)
    assert float(find_peaks(psd, n=1)["amplitude"][0]) == pytest.approx(0.3, rel=0.02)


def test_region_averages_per_pixel_amplitudes_unless_asked_for_the_mean_waveform(two_modes):
    disp = two_modes.disp
    f2 = 121.7
    per_pixel = find_peaks(spectrum(disp), n=2)
    by_mean = spectrum(disp, average="displacement")
    shape = two_modes.shapes[1]
    second = per_pixel.sel(peak=int(np.argmin(abs(per_pixel["frequency"].values - f2))))
    expected = two_modes.amplitudes[1] * np.abs(shape).mean(axis=(1, 2))
    np.testing.assert_allclose(second["amplitude"].values, expected, rtol=0.02)
    # the second mode changes sign across the frame: its region-mean waveform nearly cancels
    mean_peak = float(by_mean.sel(frequency=f2, method="nearest").max())
    assert mean_peak < 0.05 * float(second["amplitude"].max())


def test_region_selects_where_to_average(two_modes):
    disp = two_modes.disp
    box = (0, 0, 20, 14)
    cropped = disp.isel(x=slice(0, 14))
    xr.testing.assert_allclose(spectrum(disp, region=box), spectrum(cropped))
    mask = np.zeros(two_modes.shape_yx, bool)
    mask[:, :14] = True
    xr.testing.assert_allclose(spectrum(disp, region=mask), spectrum(cropped))


def test_dask_input_gives_the_numpy_result(two_modes):
    disp = two_modes.disp
    lazy = spectrum(disp.chunk({"y": 5, "x": 7}), region=(2, 3, 15, 25))
    assert lazy.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), spectrum(disp, region=(2, 3, 15, 25)))


def test_peak_table_and_quality_factor():
    """A lightly damped oscillator's impulse response: Q = 1 / (2 zeta) from the half-power bandwidth."""
    fs, fn, zeta = 2000.0, 100.0, 0.01
    t = np.arange(8000) / fs
    omega = 2 * np.pi * fn
    response = np.exp(-zeta * omega * t) * np.sin(omega * np.sqrt(1 - zeta**2) * t)
    x = xr.DataArray(response, dims="time", coords={"time": t}, attrs={"units": "px"})
    table = find_peaks(spectrum(x, window="boxcar", detrend=None), n=1)
    assert set(table.data_vars) == {"frequency", "rpm", "amplitude", "prominence", "bandwidth", "q", "cycles"}
    assert float(table["cycles"][0]) == pytest.approx(fn * 4.0, abs=1.0)  # 100 Hz over the 4 s record
    assert table["frequency"].attrs["units"] == "Hz" and table["amplitude"].attrs["units"] == "px"
    assert float(table["frequency"][0]) == pytest.approx(fn, abs=0.25)
    assert float(table["q"][0]) == pytest.approx(1 / (2 * zeta), rel=0.05)


def test_find_peaks_options(make_tones):
    x = make_tones([(1.0, 100.0, 0.0), (0.5, 104.0, 0.0), (0.05, 300.0, 0.0)], n=1000)
    spec = spectrum(x)
    assert find_peaks(spec)["frequency"].size == 3
    assert np.allclose(find_peaks(spec, min_prominence="0.1 px")["frequency"], [100.0, 104.0], atol=0.1)
    assert np.allclose(find_peaks(spec, min_distance="10 Hz", min_prominence=0.01)["frequency"], [100.0, 300.0], atol=0.1)
    with pytest.raises(AnalysisError, match="expects a spectrum from vibmag.spectrum"):
        find_peaks(xr.DataArray(spec.values, dims="frequency"))


def test_plain_waveforms_and_accessor(make_tones):
    x = make_tones([(1.0, 50.0, 0.0)], n=1000)
    assert spectrum(x).dims == ("frequency",)
    xr.testing.assert_identical(x.vib.spectrum(welch=200), spectrum(x, welch=200))


def test_bad_options_give_clear_errors(make_tones, two_modes):
    x = make_tones([(1.0, 50.0, 0.0)], n=1000)
    with pytest.raises(AnalysisError, match="region applies to fields with dims 'y' and 'x'"):
        spectrum(x, region=(0, 0, 1, 1))
    with pytest.raises(AnalysisError, match="unknown window 'hannn'"):
        spectrum(x, window="hannn")
    with pytest.raises(AnalysisError, match=r"must hold 2 to 1000 samples .* got 2000"):
        spectrum(x, welch="2 s")
    with pytest.raises(AnalysisError, match="average must be one of"):
        spectrum(two_modes.disp, average="mean")
    with pytest.raises(AnalysisError, match="NaN"):
        spectrum(x.where(x.time > 0.1))


# ----------------------------------------------------------------- off-bin peaks (issue 14, item 1)
# 1000 samples at 1 kHz: 1 Hz bins. Targets: amplitude within 1 %, frequency within 2 % of a bin spacing.


@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5])
@pytest.mark.parametrize("window", ["hann", "flattop"])
@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_off_bin_peaks_are_amplitude_and_frequency_true(make_tones, offset, window, noise):
    # noise 0.02 against a unit tone: the amplitude's scatter is 0.02 sqrt(2 ENBW / N) ~ 0.1-0.15 %, the
    # frequency's ~0.001 (Hann) to 0.003 (flat-top) bins, so the limits below are 7 sigma or more
    for seed, phase in enumerate((0.0, 0.7, 2.1, -1.3)):
        x = make_tones([(1.0, 100.0 + offset, phase)], n=1000)
        x = x + np.random.default_rng(seed).normal(0.0, noise, x.shape) if noise else x
        x.attrs = {"units": "px", "frame_rate": "1000 Hz"}
        peak = find_peaks(spectrum(x, window=window), n=1)
        assert float(peak["amplitude"][0]) == pytest.approx(1.0, rel=0.01)
        assert float(peak["frequency"][0]) == pytest.approx(100.0 + offset, rel=0, abs=0.02)


@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5])
@pytest.mark.parametrize(("window", "separation"), [("hann", 5.37), ("flattop", 8.37)])
def test_two_close_modes_each_read_true(make_tones, offset, window, separation):
    # Hann resolves modes 5 bins apart to these limits, flat-top (main lobe +-5 bins) 8 bins apart; the
    # leakage of one into the other depends on their relative phase, so several phases are tried
    f1, f2 = 100.0 + offset, 100.0 + offset + separation
    for phase in np.linspace(0.0, 2 * np.pi, 6, endpoint=False):
        x = make_tones([(1.0, f1, 0.3), (0.6, f2, phase)], n=1000)
        peaks = find_peaks(spectrum(x, window=window), n=2).sortby("frequency")
        np.testing.assert_allclose(peaks["frequency"].values, [f1, f2], rtol=0, atol=0.02)
        np.testing.assert_allclose(peaks["amplitude"].values, [1.0, 0.6], rtol=0.01)


def test_off_bin_field_of_two_modes_reads_its_mean_amplitudes():
    # the case: a plate at 23 Hz and 61 Hz, 512 frames at 500 Hz (both between bins of 0.977 Hz)
    ds = vibrating_plate((16, 32), n_frames=512, frame_rate="500 Hz", supersample=1,
                         modes=(Mode("23 Hz", 0.3, direction=90, shape="bending"),
                                Mode("61 Hz", 0.1, direction=0, shape="bending2")))
    truth = ds["true_displacement"].assign_attrs(units="px", frame_rate="500 Hz")
    peaks = find_peaks(spectrum(truth), n=2).sortby("frequency")
    mean_shape = np.abs(np.sin(np.pi * (np.arange(32) + 0.5) / 32)).mean()
    mean_shape2 = np.abs(np.sin(2 * np.pi * (np.arange(32) + 0.5) / 32)).mean()
    np.testing.assert_allclose(peaks["frequency"].values, [23.0, 61.0], rtol=0, atol=0.02 * 500 / 512)
    assert float(peaks["amplitude"].sel(component="y")[0]) == pytest.approx(0.3 * mean_shape, rel=0.01)
    assert float(peaks["amplitude"].sel(component="x")[1]) == pytest.approx(0.1 * mean_shape2, rel=0.01)


# ----------------------------------------------------------------- noise: amplitude sigma, floor, SNR (item 3)


@pytest.mark.parametrize(("window", "offset"), [("hann", 0.0), ("hann", 0.5), ("flattop", 0.5)])
def test_amplitude_sigma_is_the_scatter_of_the_amplitude(make_tones, window, offset):
    sigma = 0.05
    amplitudes, predicted = [], []
    for seed in range(100):
        x = make_tones([(1.0, 100.0 + offset, 0.1 * seed)], n=1000)
        x = x + np.random.default_rng(seed).normal(0.0, sigma, x.shape)
        x.attrs = {"units": "px", "frame_rate": "1000 Hz"}
        peak = find_peaks(spectrum(x, window=window), n=1, noise=sigma)
        amplitudes.append(float(peak["amplitude"][0]))
        predicted.append(float(peak["amplitude_sigma"][0]))
    # 100 draws: the sample standard deviation scatters by 7 % about the true one; 20 % is 3 sigma
    assert np.std(amplitudes) == pytest.approx(np.mean(predicted), rel=0.2)
    assert float(peak["snr"][0]) == pytest.approx(1.0 / float(peak["noise_floor"][0]), rel=0.02)


@pytest.mark.parametrize("window", ["hann", "flattop"])
def test_noise_floor_is_where_noise_alone_reads(make_tones, window):
    rng = np.random.default_rng(5)
    sigma = 0.03
    x = make_tones([(0.2, 100.3, 0.0)], n=4000)
    x = x + rng.normal(0.0, sigma, x.shape)
    x.attrs = {"units": "px", "frame_rate": "1000 Hz"}
    spec = spectrum(x, window=window)
    known = find_peaks(spec, n=1, noise=sigma)
    away = spec.sel(frequency=slice(150, 490))  # flat-top: bins correlated over ~4, the mean scatters by ~3 %
    assert float(known["noise_floor"][0]) == pytest.approx(float(away.mean()), rel=0.1)
    estimated = find_peaks(spec, n=1, noise="spectrum")
    assert float(estimated["noise_floor"][0]) == pytest.approx(float(known["noise_floor"][0]), rel=0.2)
    assert float(known["snr"][0]) > 3 * SNR_MIN


def test_noise_from_an_uncertainty_field_per_component(two_modes):
    disp = two_modes.disp
    # the field's noise: 0.01 px per sample and pixel (conftest); as an uncertainty map over (time, component, y, x)
    uncertainty = xr.full_like(disp, 0.01).assign_attrs(units="px")
    uncertainty.loc[{"component": "y"}] = 0.02
    peaks = find_peaks(spectrum(disp), n=2, noise=uncertainty)
    assert peaks["noise_floor"].dims == ("peak", "component")
    floor = peaks["noise_floor"].isel(peak=0)
    assert float(floor.sel(component="y")) == pytest.approx(2 * float(floor.sel(component="x")), rel=1e-9)
    per_pixel_floor = float(spectrum(disp).sel(frequency=slice(300, 450), component="x").mean())
    assert float(floor.sel(component="x")) == pytest.approx(per_pixel_floor, rel=0.05)
    with pytest.raises(UnitError, match="cannot be read in the spectrum's units 'px'"):
        find_peaks(spectrum(disp), noise=uncertainty.assign_attrs(units="mm"))  # mm noise for a px spectrum
    with pytest.raises(AnalysisError, match="noise must be a non-negative"):
        find_peaks(spectrum(disp), noise=-1.0)


def test_a_known_gain_error_reads_as_the_peaks_systematic_amplitude(two_modes):
    # a model error of -5 % of the first mode (a gain error at 37.3 Hz only): its peak's systematic part is 5 % of its
    # amplitude per component, the second mode's about 0, and amplitude_sigma adds it to the noise part in quadrature
    disp = two_modes.disp
    t = np.arange(two_modes.n) / FS
    first = (two_modes.amplitudes[0] * np.sin(2 * np.pi * two_modes.frequencies[0] * t + two_modes.phases[0]))
    model_error = xr.zeros_like(disp) + (-0.05 * first[:, None, None, None] * two_modes.shapes[0][None])
    model_error = model_error.astype(np.float32).assign_attrs(units="px")
    spec = spectrum(disp)
    systematic = systematic_spectrum(disp, model_error)
    xr.testing.assert_identical(systematic_spectrum(disp, model_error, spec=spec), systematic)  # given, not retaken
    peaks = find_peaks(spec, n=2, noise=0.01, systematic=systematic).sortby("frequency")
    np.testing.assert_allclose(peaks["amplitude_systematic"].isel(peak=0), 0.05 * peaks["amplitude"].isel(peak=0),
                               rtol=0.03)
    assert float(peaks["amplitude_systematic"].isel(peak=1).max()) < 0.002 * float(peaks["amplitude"].isel(peak=1).max())
    noise_only = find_peaks(spec, n=2, noise=0.01).sortby("frequency")
    np.testing.assert_allclose(peaks["amplitude_sigma"], np.hypot(noise_only["amplitude_sigma"],
                                                                  peaks["amplitude_systematic"]), rtol=1e-12)
    alone = find_peaks(spec, n=2, systematic=systematic)  # without noise: the systematic column only
    assert "amplitude_systematic" in alone and "amplitude_sigma" not in alone


def test_systematic_parts_that_do_not_match_are_refused(two_modes):
    disp = two_modes.disp
    error = xr.zeros_like(disp).assign_attrs(units="px")
    with pytest.raises(AnalysisError, match="model_error must be shaped like the displacement"):
        systematic_spectrum(disp, error.isel(time=slice(1, None)))
    with pytest.raises(AnalysisError, match="model_error is in 'mm'"):
        systematic_spectrum(disp, error.assign_attrs(units="mm"))
    with pytest.raises(AnalysisError, match="same frequencies and dims"):
        find_peaks(spectrum(disp), systematic=systematic_spectrum(disp.isel(time=slice(0, 500)),
                                                                  error.isel(time=slice(0, 500))))
    with pytest.raises(AnalysisError, match="spec must be an amplitude spectrum"):
        systematic_spectrum(disp, error, spec=spectrum(disp, scaling="psd"))
    with pytest.raises(AnalysisError, match="systematic must be a spectrum"):
        find_peaks(spectrum(disp), systematic=0.01)


@pytest.mark.parametrize(("window", "lobe"), [("hann", 2.0), ("boxcar", 1.0), ("blackman", 3.0), ("flattop", 5.0)])
def test_peaks_count_their_periods_against_the_windows_main_lobe(make_tones, window, lobe):
    x = make_tones([(0.5, 40.25, 0.0)], n=1000)  # 1000 samples: 40.25 periods
    peaks = find_peaks(spectrum(x, window=window), n=1)
    assert peaks["cycles"].attrs["min_cycles"] == pytest.approx(lobe)
    assert float(peaks["cycles"][0]) == pytest.approx(40.25, abs=0.02)
    assert resolved_peaks(peaks).tolist() == [True]


@pytest.mark.parametrize("window", ["hann", "flattop"])
def test_a_step_in_the_record_is_no_resolved_vibration(window):
    # 0.5 s at 150 Hz (75 samples, bins of 2 Hz): a 0.6 px step after 0.03 s (as the demo's beams show in x) and a
    # 0.05 px sinusoid at 17.2 Hz (8.6 periods); the step's peak sits inside the window's main lobe around 0 Hz
    t = np.arange(75) / 150.0
    x = xr.DataArray(np.where(t > 0.03, 0.6, 0.0) + 0.05 * np.sin(2 * np.pi * 17.2 * t), dims="time",
                     coords={"time": t}, attrs={"units": "px"})
    peaks = find_peaks(spectrum(x, window=window), n=2)
    np.testing.assert_allclose(peaks["cycles"].values, peaks["frequency"].values * 0.5, rtol=1e-12)
    mode = int(np.argmin(np.abs(peaks["frequency"].values - 17.2)))
    assert peaks["cycles"].values[mode] == pytest.approx(8.6, abs=0.1)
    assert resolved_peaks(peaks).tolist() == [i == mode for i in range(2)]
    assert resolved_peaks(peaks.drop_vars("cycles")).tolist() == [True, True]  # a table from before the column
