"""The displacement uncertainty: calibrated against the exact displacement of synthetic scenes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

import vibmag
from vibmag.analysis.spectra import noise_level
from vibmag.flow import LucasKanade, estimate_displacement
from vibmag.synthetic import Mode, vibrating_plate

BORDER = 16
CALIBRATION_CASES = [(noise, speckle) for noise in (0.25, 1.0, 4.0) for speckle in (2.0, 3.0, 8.0, 14.0)]


@pytest.mark.parametrize(
    ("noise", "speckle_size", "options"),
    [(n, s, {}) for n, s in CALIBRATION_CASES]  # the default: one window (sigma 3 px)
    + [(n, s, {"max_window": 6.0}) for n, s in CALIBRATION_CASES],  # the adaptive window (3 to 6 px)
)
def test_predicted_sigma_matches_the_measured_error_within_30_percent(noise, speckle_size, options):
    # fine speckle (2 px) to weak texture (14 px cells: gradients 5x weaker), noise 0.25/255 to 4/255 per pixel;
    # the RMS of the predicted sigma against the RMS of the error from the exact displacement, per component.
    # At 0.25/255 most of the adaptive window's error is its wide fit's motion-model error on the bending mode,
    # which the prediction's motion-model term carries (without it: predicted 0.45-0.77 of the measured RMS).
    ds = vibrating_plate((96, 96), n_frames=12, frame_rate="1 kHz", noise=noise / 255, speckle_size=speckle_size,
                         seed=1, modes=(Mode("83 Hz", 0.4, direction=60, shape="bending"),))
    _assert_within_30_percent(ds, options, BORDER)


@pytest.mark.parametrize("options", [{}, {"max_window": 6.0}], ids=["default", "max_window=6"])
def test_predicted_sigma_holds_on_a_short_wavelength_mode_it_was_not_tuned_on(options):
    # a 0.5 px sine mode of 96 px wavelength at low noise: the windows' averaging of the curved shape is most of the
    # error (the adaptive window's prediction without its motion-model term: 0.23 of the measured RMS in y)
    ds = vibrating_plate((192, 192), n_frames=6, frame_rate="500 Hz", seed=3, noise=0.3 / 255,
                         modes=[Mode("125 Hz", 0.5, direction=90.0,
                                     shape=lambda y, x: np.sin(2 * np.pi * (x + 0.5) / 96.0))])
    _assert_within_30_percent(ds, options, 17)


@pytest.mark.parametrize("options", [{}, {"max_window": 6.0}], ids=["default", "max_window=6"])
def test_motion_model_term_vanishes_for_rigid_motion_and_carries_a_curved_mode(options):
    # a fit over a window returns a constant deviation exactly (W(c) = c), so under rigid motion the term holds
    # only the noise the measured deviation carries; on the second bending mode (a full sine over the 96 px) the
    # adaptive window's wide fit averages the curvature away, and the term is most of its variance at this
    # noise (0.25/255; measured 10.9x the noise-only variance, 1.3x on the first mode)
    ratios = {}
    for shape in ("rigid", "bending2"):
        ds = vibrating_plate((96, 96), n_frames=6, frame_rate="1 kHz", noise=0.25 / 255, speckle_size=3.0, seed=2,
                             modes=(Mode("83 Hz", 0.4, direction=60, shape=shape),))
        frames = torch.from_numpy(np.asarray(ds["frames"].values, dtype=np.float32))[:, None]
        estimator = LucasKanade(**options)
        reference = estimator.prepare(frames[:1])
        inner = (..., slice(BORDER, -BORDER), slice(BORDER, -BORDER))
        with_term = estimator.track_with_uncertainty(reference, frames[1:])[2][inner]
        noise_only = estimator.track_with_uncertainty(reference, frames[1:], motion_model=False)[2][inner]
        ratios[shape] = float(with_term[:, ::2].mean() / noise_only[:, ::2].mean())  # xx and yy
    assert 1.0 <= ratios["rigid"] < 1.25
    if options:
        assert ratios["bending2"] > 3.0


@pytest.mark.parametrize("options", [{}, {"max_window": 6.0}], ids=["default", "max_window=6"])
def test_uncertainty_at_object_outlines_carries_the_error_of_a_window_straddling_two_motions(options):
    # four objects moving over a still background (seed 2; the motion-edge term was set on seed 1): within 3 px of
    # an outline the window mixes two motions, an error the noise and the smooth motion model cannot state (without
    # the edge term the predicted sigma there was 0.15-0.22 of the measured RMS; with its residual part 0.52-0.73, with
    # the flow-span floor for mixed windows too 0.56 / 0.79 (x / y), both estimators); on smooth motion the term is
    # exactly zero, so the calibration above is untouched
    from vibmag.synthetic import object_scene, outline_distance

    ds = object_scene((160, 160), n_frames=6, n_objects=4, noise=1 / 255, seed=2)
    out = estimate_displacement(ds, return_uncertainty=True, **options)
    truth = ds["true_displacement"].values[1:]
    near = outline_distance(truth) < 3
    near[:, :8], near[:, -8:], near[:, :, :8], near[:, :, -8:] = False, False, False, False
    error = (out["displacement"].values[1:] - truth).transpose(1, 0, 2, 3)[:, near]
    sigma = out["uncertainty"].values[1:].transpose(1, 0, 2, 3)[:, near]
    ratio = np.sqrt((sigma**2).mean(1) / (error**2).mean(1))
    assert np.all(ratio > 0.5) and np.all(ratio < 1.3)

    plate = vibrating_plate((96, 96), n_frames=6, frame_rate="1 kHz", noise=1 / 255, seed=1,
                            modes=(Mode("83 Hz", 0.4, direction=60, shape="bending"),))
    frames = torch.from_numpy(np.asarray(plate["frames"].values, dtype=np.float32))[:, None]
    estimator = LucasKanade(**options)
    edge = estimator.track_with_error_parts(estimator.prepare(frames[:1]), frames[1:])[4]
    assert float(edge[..., BORDER:-BORDER, BORDER:-BORDER].abs().max()) == 0.0


def _assert_within_30_percent(ds, options: dict, border: int) -> None:
    """The RMS of the predicted sigma within 30 % of the RMS of the error against the exact displacement."""
    out = estimate_displacement(ds, return_uncertainty=True, **options)
    inner = {"time": slice(1, None), "y": slice(border, -border), "x": slice(border, -border)}
    error = (out["displacement"] - ds["true_displacement"]).isel(inner)
    measured = np.sqrt((error**2).mean(("time", "y", "x")).values)
    predicted = np.sqrt((out["uncertainty"].isel(inner) ** 2).mean(("time", "y", "x")).values)
    np.testing.assert_array_less(0.7 * measured, predicted)
    np.testing.assert_array_less(predicted, 1.3 * measured)


def test_aperture_problem_shows_as_a_large_uncertainty_along_the_edges():
    # horizontal stripes: y is measurable, x (along the stripes) is not
    n, height, width = 6, 64, 64
    y = np.arange(height)[:, None] + np.zeros((1, width))
    shifts = (0.0, 0.1, 0.2, -0.15, 0.05, 0.25)
    rng = np.random.default_rng(0)
    frames = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (y - s) / 9.0) + rng.normal(0, 1 / 255, y.shape) for s in shifts])
    ds = vibmag.open_recording(frames.astype(np.float32), frame_rate="1 kHz")
    out = estimate_displacement(ds, return_uncertainty=True)
    sigma = out["uncertainty"].isel(time=slice(1, None), y=slice(BORDER, -BORDER), x=slice(BORDER, -BORDER))
    sigma_x, sigma_y = (float(sigma.sel(component=c).median()) for c in ("x", "y"))
    assert sigma_x > 20 * sigma_y and sigma_x > 0.05
    truth = xr.DataArray(np.array(shifts), dims="time")
    error_y = out["displacement"].sel(component="y") - truth
    measured_y = float(np.sqrt((error_y.isel(time=slice(1, None), y=slice(BORDER, -BORDER),
                                             x=slice(BORDER, -BORDER)) ** 2).mean()))
    predicted_y = float(np.sqrt((sigma.sel(component="y") ** 2).mean()))
    assert 0.7 * measured_y < predicted_y < 1.3 * measured_y


def test_uncertainty_layout_region_and_units():
    ds = vibrating_plate((48, 48), n_frames=4, noise=1 / 255, pixel_size="0.05 mm")
    out = estimate_displacement(ds, return_uncertainty=True, return_confidence=True, region=(8, 8, 40, 40))
    assert sorted(out.data_vars) == ["confidence", "displacement", "model_error", "noise", "uncertainty"]
    # the parts: the uncertainty holds both frames' noise (the moving frame's half of it is the noise) and the model error
    np.testing.assert_allclose(out["uncertainty"] ** 2, 2 * out["noise"] ** 2 + out["model_error"] ** 2, rtol=1e-4,
                               atol=1e-12)
    sigma = out["uncertainty"]
    for name in ("noise", "model_error"):
        assert out[name].attrs["units"] == "px" and out[name].dims == sigma.dims
    assert sigma.dims == ("time", "component", "y", "x") and sigma.attrs["units"] == "px"
    assert sigma.dtype == np.float32 and sigma["component"].values.tolist() == ["x", "y"]
    assert bool(sigma.isel(y=0, x=0).isnull().all()) and bool(sigma.isel(time=slice(1, None), y=20, x=20).notnull().all())
    assert float(abs(sigma.isel(time=0, y=20, x=20)).max()) < 1e-4  # the reference against itself
    xr.testing.assert_allclose(vibmag.to_physical(out)["uncertainty"], sigma * 0.05, rtol=1e-6)
    assert vibmag.to_physical(out)["uncertainty"].attrs["units"] == "mm"
    plain = estimate_displacement(ds, region=(8, 8, 40, 40))
    xr.testing.assert_identical(out["displacement"], plain)
    # some of the parts only: the same values, the others neither returned nor held
    some = estimate_displacement(ds, return_uncertainty=("model_error", "noise"), region=(8, 8, 40, 40))
    assert sorted(some.data_vars) == ["displacement", "model_error", "noise"]
    xr.testing.assert_identical(some["noise"], out["noise"])
    xr.testing.assert_identical(some["model_error"], out["model_error"])
    with pytest.raises(vibmag.errors.OptionValueError, match="return_uncertainty must be True, False or some of"):
        estimate_displacement(ds, return_uncertainty=("noise", "sigma"))


def test_estimators_without_a_covariance_are_refused():
    ds = vibrating_plate((32, 32), n_frames=2)

    class Zero(torch.nn.Module):
        def forward(self, ref, moving):
            return torch.zeros(moving.shape[0], 2, *moving.shape[-2:])

    with pytest.raises(ValueError, match="return_uncertainty needs an estimator"):
        estimate_displacement(ds, method=Zero(), return_uncertainty=True)


def test_track_with_uncertainty_gives_flow_confidence_and_covariance(speckle64):
    lk = LucasKanade()
    prepared = lk.prepare(speckle64)
    moving = torch.roll(speckle64, 1, dims=-1)
    flow, confidence, covariance = lk.track_with_uncertainty(prepared, moving)
    torch.testing.assert_close(flow, lk.track(prepared, moving))
    torch.testing.assert_close(confidence, lk.track_with_confidence(prepared, moving)[1])
    assert covariance.shape == (1, 3, 64, 64)
    xx, xy, yy = covariance[0]
    assert bool((xx >= 0).all() and (yy >= 0).all() and (xy**2 <= xx * yy * (1 + 1e-4) + 1e-12).all())


def test_batched_frames_give_the_same_displacement_and_uncertainty():
    ds = vibrating_plate((48, 48), n_frames=7, noise=1 / 255, modes=(Mode("125 Hz", 0.3, direction=30),))
    one = estimate_displacement(ds, return_uncertainty=True, chunk_frames=5, batch_frames=1)
    for batch in (3, None):  # None: call_frames_for(48, 48), the whole chunk
        batched = estimate_displacement(ds, return_uncertainty=True, chunk_frames=5, batch_frames=batch)
        xr.testing.assert_identical(one, batched)  # frames are measured independently: bit for bit
    with pytest.raises(ValueError, match="batch_frames must be a positive integer"):
        estimate_displacement(ds, batch_frames=0)


def test_error_from_confidence_inverts_confidence_from_error():
    from vibmag.flow.confidence import confidence_from_error, error_from_confidence

    error = torch.tensor([0.0, 0.001, 0.05, 0.3, 2.0], dtype=torch.float64)
    back = error_from_confidence(confidence_from_error(error, 0.05), 0.05)
    assert torch.allclose(back, error, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="tolerance"):
        error_from_confidence(torch.ones(1), 0.0)


@pytest.mark.parametrize(("noise", "options"), [(0.25, {}), (0.25, {"max_window": 6.0}), (4.0, {})],
                         ids=["default", "max_window=6", "default-noisy"])
def test_spectrum_noise_floor_and_systematic_amplitude_error_hold_against_the_exact_displacement(noise, options):
    # an off-bin bending mode (83 Hz at 1.95 Hz bins): the floor that the frame-to-frame noise predicts against the
    # mean amplitude of the error's spectrum far from the mode (the uncertainty itself, which also holds the
    # reference frame's fixed offset and the motion-model error, reads it 1.35-1.8x high); and the peak's amplitude
    # error against the exact displacement's, within the amplitude sigma once its systematic part is in
    ds = vibrating_plate((96, 96), n_frames=128, frame_rate="250 Hz", noise=noise / 255, speckle_size=3.0, seed=1,
                         modes=(Mode("83 Hz", 0.4, direction=60, shape="bending"),))
    region = (BORDER, BORDER, 96 - BORDER, 96 - BORDER)
    measured = estimate_displacement(ds, return_uncertainty=True, progress=False, **options)
    disp = measured["displacement"]
    spec = vibmag.spectrum(disp, region=region)
    inside = vibmag.region_mask(disp, region) > 0
    peaks = vibmag.find_peaks(spec, n=1, noise=noise_level(measured["noise"].where(inside)),
                              systematic=vibmag.systematic_spectrum(disp, measured["model_error"], region=region))
    error_spectrum = vibmag.spectrum(disp - ds["true_displacement"], region=region)
    far = abs(error_spectrum["frequency"] - 83.0) > 20.0
    measured_floor = error_spectrum.where(far).mean("frequency").values
    np.testing.assert_allclose(peaks["noise_floor"].isel(peak=0).values, measured_floor, rtol=0.3)
    exact = vibmag.find_peaks(vibmag.spectrum(ds["true_displacement"], region=region), n=1)
    amplitude_error = abs(peaks["amplitude"] - exact["amplitude"]).isel(peak=0).values
    np.testing.assert_array_less(amplitude_error, 2.0 * peaks["amplitude_sigma"].isel(peak=0).values)
