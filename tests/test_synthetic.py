"""Synthetic scenes: the ground truth every other test relies on, checked against what can be stated exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.ndimage
import scipy.optimize
import xarray as xr

from vibmag.errors import UnitError
from vibmag.synthetic import (
    Ellipse,
    Layer,
    Mode,
    Motion,
    ObjectScene,
    SceneError,
    SpeckleTexture,
    VibratingPlate,
    object_scene,
    render_magnified,
    scene_from_json,
    shifted_pair,
    vibrating_plate,
)
from vibmag.synthetic import _rest_positions

RATE = 1000.0  # Hz, the plates' frame rate below


def small_plate(**overrides) -> VibratingPlate:
    """A 40 x 48 plate, 16 frames at 1 kHz, supersample 2: fast to render."""
    options = dict(shape=(40, 48), n_frames=16, frame_rate="1 kHz", supersample=2)
    return VibratingPlate(**{**options, **overrides})


def wave(amplitude, hz, t, phase=0.0):
    """The temporal factor of a mode, written as the docs state it."""
    return amplitude * np.sin(2 * np.pi * hz * t + phase)


# --------------------------------------------------------------------------- layout


def test_plate_has_the_recording_layout_plus_true_displacement():
    ds = vibrating_plate((24, 32), n_frames=5, pixel_size="0.05 mm", supersample=2)
    assert ds["frames"].dims == ("time", "y", "x") and ds["frames"].dtype == np.float32
    assert ds["frames"].shape == (5, 24, 32)
    truth = ds["true_displacement"]
    assert truth.dims == ("time", "component", "y", "x")
    assert list(truth["component"].values) == ["x", "y"]
    assert truth.attrs["units"] == "px" and truth.attrs["pixel_size"] == ds.attrs["pixel_size"]
    assert ds.attrs["frame_rate"] == "1000 Hz" and ds.attrs["source"] == "synthetic:vibrating_plate"
    np.testing.assert_array_equal(ds["time"].values, np.arange(5) / RATE)
    frames = ds["frames"].values
    assert 0.0 < frames.min() and frames.max() < 1.0  # texture stays inside (0.1, 0.9)


# --------------------------------------------------------------------------- (1) rendering


def test_whole_pixel_drift_equals_array_shift():
    # 1 frame per second and drift (2, 1) px/s: frame n is frame 0 moved by (2n, n) px.
    scene = small_plate(n_frames=3, frame_rate="1 Hz", modes=(), drift=(2.0, 1.0), supersample=4)
    ds = scene.render()
    frames = ds["frames"].values
    np.testing.assert_allclose(frames[1][1:, 2:], frames[0][:-1, :-2], atol=1e-6)
    np.testing.assert_allclose(frames[2][2:, 4:], frames[0][:-2, :-4], atol=1e-6)
    truth = ds["true_displacement"].values
    np.testing.assert_array_equal(truth[2, 0], 4.0)
    np.testing.assert_array_equal(truth[2, 1], 2.0)


def test_shifted_pair_is_the_texture_translated_by_the_shift():
    ref, moving, flow = shifted_pair((32, 40), shift=(3.0, -2.0), seed=5)
    # moving(p + shift) == ref(p): moving[y - 2, x + 3] == ref[y, x]
    np.testing.assert_allclose(moving[:-2, 3:], ref[2:, :-3], atol=1e-6)
    assert flow.shape == (2, 32, 40)
    np.testing.assert_array_equal(flow[0], 3.0)
    np.testing.assert_array_equal(flow[1], -2.0)
    sub_ref, sub_moving, _ = shifted_pair((32, 40), shift=(0.3, 0.1), seed=5)
    np.testing.assert_array_equal(sub_ref, ref)
    # a 0.3 px shift changes the image by about shift . gradient, far below its contrast
    assert 0.005 < np.abs(sub_moving - sub_ref).mean() < 0.1


def test_oblique_bending_frame_matches_an_independent_root_solve():
    # Supersample 1: each pixel is the texture at the material point X with X + W(X, t) = p.
    # W depends on X_x only, so X_x is a 1-D root (brentq) and X_y follows.
    mode = Mode("125 Hz", 3.0, direction=30.0, shape="bending")
    scene = small_plate(modes=(mode,), supersample=1, n_frames=3)
    frame = scene.frames()[2]  # t = 2 ms: the wave is at its peak, 3 px
    s = wave(mode.amplitude, mode.hz, scene.times[2])
    ux, uy = mode.unit_vector
    width = scene.shape[1]

    def shape(x):
        return np.sin(np.pi * (x + 0.5) / width)

    rest_x = np.array([scipy.optimize.brentq(lambda x: x + s * ux * shape(x) - q, q - 4, q + 4, xtol=1e-13) for q in range(width)])
    rest_y = np.arange(scene.shape[0])[:, None] - s * uy * shape(rest_x)[None, :]
    np.testing.assert_allclose(frame, scene.texture(rest_y, rest_x[None, :]), atol=1e-10)


def test_inversion_converges_to_the_stated_tolerance():
    mode = Mode("50 Hz", 2.5, direction=(1.0, 1.0), shape="bending2", phase=0.4)
    scene = small_plate(modes=(mode,))
    y, x = np.meshgrid(np.linspace(-1, 40, 57), np.linspace(-1, 48, 61), indexing="ij")

    def field(rest_y, rest_x):
        return scene.motion.field(rest_y, rest_x, 0.004, scene.shape)

    rest_y, rest_x = _rest_positions(y, x, field, "here")
    dx, dy = field(rest_y, rest_x)
    assert np.abs(rest_x + dx - x).max() < 1e-9 and np.abs(rest_y + dy - y).max() < 1e-9


def test_texture_does_not_depend_on_where_or_how_it_is_evaluated():
    texture = SpeckleTexture(seed=3, speckle_size=2.5)
    y, x = np.meshgrid(np.linspace(-200, 300, 40), np.linspace(-50, 900, 50), indexing="ij")
    whole = texture(y, x)
    parts = np.concatenate([texture(y[:7], x[:7]), texture(y[7:], x[7:])])
    np.testing.assert_array_equal(whole, parts)
    assert 0.1 < whole.min() and whole.max() < 0.9


# --------------------------------------------------------------------------- (2) displacement


def test_rigid_mode_displacement_is_exact():
    modes = (Mode("40 Hz", 0.7, direction=90.0, phase=0.3), Mode("90 Hz", 0.2, direction=0.0, phase=-1.1))
    ds = small_plate(modes=modes).render()
    truth = ds["true_displacement"].values
    t = ds["time"].values[:, None, None]
    np.testing.assert_array_equal(truth[0], 0.0)
    expected_y = wave(0.7, 40.0, t, 0.3) - wave(0.7, 40.0, 0.0, 0.3)
    expected_x = wave(0.2, 90.0, t, -1.1) - wave(0.2, 90.0, 0.0, -1.1)
    np.testing.assert_array_equal(truth[:, 1], np.broadcast_to(expected_y, truth[:, 1].shape))
    np.testing.assert_array_equal(truth[:, 0], np.broadcast_to(expected_x, truth[:, 0].shape))


def test_bending_modes_follow_their_shapes():
    # Motion along y does not move material along x, so the pixel's x is the material's.
    first = Mode("125 Hz", 0.4, direction=90.0, shape="bending", phase=0.5)
    second = Mode("250 Hz", 0.3, direction=90.0, shape="bending2")
    scene = small_plate(modes=(first, second))
    truth = scene.displacement()
    t, x = scene.times[:, None, None], np.arange(scene.shape[1])
    shape1 = np.sin(np.pi * (x + 0.5) / scene.shape[1])
    shape2 = np.sin(2 * np.pi * (x + 0.5) / scene.shape[1])
    expected = (wave(0.4, 125.0, t, 0.5) - wave(0.4, 125.0, 0.0, 0.5)) * shape1 + wave(0.3, 250.0, t) * shape2
    np.testing.assert_allclose(truth[:, 1], np.broadcast_to(expected, truth[:, 1].shape), atol=1e-12)
    np.testing.assert_array_equal(truth[:, 0], 0.0)
    # the first shape peaks at 1 in the middle; the second changes sign there
    assert shape1.max() == pytest.approx(1.0, abs=1e-3)
    assert shape2[: scene.shape[1] // 2].min() > 0 > shape2[scene.shape[1] // 2 :].max()


def test_displacement_spectrum_peaks_at_the_mode_frequencies():
    modes = (Mode("125 Hz", 0.3, direction=0.0), Mode("250 Hz", 0.2, direction=90.0, shape="bending"))
    truth = small_plate(modes=modes, n_frames=64).displacement()
    frequencies = np.fft.rfftfreq(64, 1 / RATE)
    for component, hz in ((0, 125.0), (1, 250.0)):
        signal = truth[:, component, 20, 24]
        spectrum = np.abs(np.fft.rfft(signal - signal.mean()))
        assert frequencies[spectrum.argmax()] == hz


# --------------------------------------------------------------------------- (4) magnification


def test_alpha_one_returns_the_original_recording():
    ds = small_plate(modes=(Mode("125 Hz", 0.4, direction=60.0, shape="bending", phase=1.0),), drift=(20.0, -5.0)).render()
    out = render_magnified(ds, 1.0)
    np.testing.assert_array_equal(out["frames"].values, ds["frames"].values)
    np.testing.assert_array_equal(out["true_displacement"].values, ds["true_displacement"].values)
    assert out["frames"].dims == ds["frames"].dims
    xr.testing.assert_identical(out["time"], ds["time"])
    assert out.attrs["frame_rate"] == ds.attrs["frame_rate"] and out.attrs["scene"] == ds.attrs["scene"]
    assert out.attrs["alpha"] == 1.0


def test_magnified_rigid_mode_equals_a_scene_with_alpha_times_the_amplitude():
    ds = small_plate(modes=(Mode("125 Hz", 0.3, direction=90.0),)).render()
    out = render_magnified(ds, 4.0)
    fresh = small_plate(modes=(Mode("125 Hz", 1.2, direction=90.0),))
    np.testing.assert_allclose(out["frames"].values, fresh.render()["frames"].values, atol=1e-6)
    np.testing.assert_allclose(out["true_displacement"].values, 4.0 * ds["true_displacement"].values, atol=1e-12)
    exact = scene_from_json(ds.attrs["scene"]).frames(4.0)
    np.testing.assert_allclose(exact, fresh.frames(), atol=1e-12)


def test_band_magnifies_only_the_in_band_mode():
    low = Mode("62.5 Hz", 0.2, direction=0.0)
    high = Mode("250 Hz", 0.1, direction=90.0, shape="bending")
    scene = small_plate(modes=(low, high), drift=(5.0, 0.0))
    ds = scene.render()
    out = render_magnified(ds, 10.0, band=("200 Hz", "300 Hz"))
    t, x = scene.times[:, None], np.arange(scene.shape[1])
    high_only = wave(0.1, 250.0, t) * np.sin(np.pi * (x + 0.5) / scene.shape[1])  # (time, x)
    truth, magnified = ds["true_displacement"].values, out["true_displacement"].values
    np.testing.assert_array_equal(magnified[:, 0], truth[:, 0])  # low mode and drift as recorded
    np.testing.assert_allclose(magnified[:, 1], np.broadcast_to(10.0 * high_only[:, None, :], truth[:, 1].shape), atol=1e-12)
    # the frames are those of a scene whose in-band mode is 10 times as large
    fresh = small_plate(modes=(low, Mode("250 Hz", 1.0, direction=90.0, shape="bending")), drift=(5.0, 0.0))
    np.testing.assert_allclose(out["frames"].values, fresh.render()["frames"].values, atol=1e-6)
    assert out.attrs["band"] == "200 Hz, 300 Hz"


def test_components_select_parts_by_name():
    modes = (Mode("62.5 Hz", 0.2, direction=0.0), Mode("250 Hz", 0.1, direction=90.0))
    scene = small_plate(modes=modes, drift=(30.0, 10.0))
    t = scene.times
    base = scene.displacement()
    drift_only = scene.displacement(3.0, components=["drift"])
    np.testing.assert_allclose(drift_only[:, 0, 5, 5], base[:, 0, 5, 5] + 2.0 * 30.0 * t, atol=1e-12)
    np.testing.assert_allclose(drift_only[:, 1, 5, 5], base[:, 1, 5, 5] + 2.0 * 10.0 * t, atol=1e-12)
    first_mode = scene.displacement(3.0, components=[0])
    np.testing.assert_allclose(first_mode[:, 0, 5, 5], 30.0 * t + 3.0 * wave(0.2, 62.5, t), atol=1e-12)
    np.testing.assert_array_equal(first_mode[:, 1], base[:, 1])
    # no band and no components: everything
    np.testing.assert_allclose(scene.displacement(3.0), 3.0 * base, atol=1e-12)


def test_alpha_map_magnifies_where_it_says():
    # alpha 1 for x < 16, ramp to 3 over x = 16..32, 3 beyond; rigid 0.3 px mode along x.
    scene = small_plate(modes=(Mode("125 Hz", 0.3, direction=0.0),))
    alpha = np.broadcast_to(np.interp(np.arange(scene.shape[1]), [16, 32], [1.0, 3.0]), scene.shape)
    out = scene.render_magnified(alpha)
    truth = scene.displacement()
    np.testing.assert_allclose(out["true_displacement"].values, alpha * truth, atol=1e-12)
    frames = out["frames"].values
    np.testing.assert_allclose(frames[..., :14], scene.render()["frames"].values[..., :14], atol=1e-6)
    tripled = small_plate(modes=(Mode("125 Hz", 0.9, direction=0.0),)).render()["frames"].values
    np.testing.assert_allclose(frames[..., 34:], tripled[..., 34:], atol=1e-6)
    assert out.attrs["alpha"] == "per-pixel map"
    # with motion at frame 0 (phase), still alpha(p) times the motion of what p shows in frame 0
    shifted = small_plate(modes=(Mode("125 Hz", 0.3, direction=20.0, shape="bending", phase=0.7),))
    np.testing.assert_allclose(shifted.displacement(alpha), alpha * shifted.displacement(), atol=1e-12)


def test_noise_option_reproduces_the_recorded_noise():
    ds = small_plate(noise=0.01, bit_depth=10).render()
    np.testing.assert_array_equal(render_magnified(ds, 1.0, noise=True)["frames"].values, ds["frames"].values)
    assert "bit_depth" not in render_magnified(ds, 1.0).attrs  # exact frames are not quantised


# --------------------------------------------------------------------------- (5) JSON


def test_scene_json_round_trips_through_hdf5(tmp_path):
    modes = (Mode("1.5 kHz", 0.25, direction=(1.0, 2.0), shape="bending2", phase=0.1), Mode("3000 rpm", 0.5))
    scene = small_plate(modes=modes, drift=(1.5, -0.5), noise=0.01, bit_depth=12, pixel_size="20 um", seed=7)
    ds = scene.render()
    assert json.loads(ds.attrs["scene"])["kind"] == "vibrating_plate"
    assert scene_from_json(ds.attrs["scene"]) == scene
    assert scene.modes[1].frequency == "50 Hz"
    ds.to_netcdf(tmp_path / "plate.h5", engine="h5netcdf")
    with xr.open_dataset(tmp_path / "plate.h5", engine="h5netcdf") as loaded:
        out = render_magnified(loaded.load(), 1.0, noise=True)
    np.testing.assert_array_equal(out["frames"].values, ds["frames"].values)


def test_object_scene_json_round_trips():
    ds = object_scene((32, 32), n_frames=3, seed=4, supersample=2)
    scene = scene_from_json(ds.attrs["scene"])
    assert isinstance(scene, ObjectScene) and len(scene.objects) == 4
    assert scene_from_json(scene.to_json()) == scene
    np.testing.assert_array_equal(scene.render()["frames"].values, ds["frames"].values)


def test_scenes_with_callables_render_but_cannot_be_rebuilt_from_json():
    scene = small_plate(modes=(Mode("50 Hz", 0.2, shape=lambda y, x: np.ones_like(x)),), drift=lambda t: (0.0, 3.0 * t))
    ds = scene.render()
    truth = ds["true_displacement"].values
    np.testing.assert_allclose(truth[:, 1], np.broadcast_to(3.0 * scene.times[:, None, None], truth[:, 1].shape), atol=1e-12)
    with pytest.raises(SceneError, match="callable"):
        render_magnified(ds, 2.0)
    assert scene.render_magnified(2.0)["frames"].shape == ds["frames"].shape


# --------------------------------------------------------------------------- (6) sensor


def test_noise_has_the_requested_sigma():
    scene = small_plate(shape=(96, 96), n_frames=4, modes=(), noise=0.02, seed=3)
    difference = scene.render()["frames"].values - scene.frames()
    assert difference.std() == pytest.approx(0.02, rel=0.03)
    assert abs(difference.mean()) < 0.001
    again = small_plate(shape=(96, 96), n_frames=4, modes=(), noise=0.02, seed=3).render()["frames"].values
    np.testing.assert_array_equal(again, scene.render()["frames"].values)


@pytest.mark.parametrize("bits", [1, 3, 8])
def test_quantisation_gives_at_most_two_to_the_bits_levels(bits):
    ds = small_plate(n_frames=2, bit_depth=bits, noise=0.005).render()
    levels = np.unique(ds["frames"].values)
    assert len(levels) <= 2**bits and ds.attrs["bit_depth"] == bits
    counts = levels.astype(np.float64) * (2**bits - 1)
    np.testing.assert_allclose(counts, np.rint(counts), atol=1e-4)


# --------------------------------------------------------------------------- (7) objects


def test_object_displacement_is_piecewise_constant_and_background_still():
    shifts = [(0.3, -0.2), (1.0, 0.0), (0.0, 0.5), (-0.7, 0.1)]
    ds = object_scene((64, 64), n_frames=3, motion=shifts, seed=2, supersample=4)
    scene = scene_from_json(ds.attrs["scene"])
    labels, truth = scene.layer_map(0), ds["true_displacement"].values
    assert set(np.unique(labels)) == {-1, 0, 1, 2, 3}
    for index, (dx, dy) in enumerate(shifts):
        inside = labels == index
        for n in range(3):
            np.testing.assert_allclose(truth[n, 0][inside], n * dx, atol=1e-12)
            np.testing.assert_allclose(truth[n, 1][inside], n * dy, atol=1e-12)
    np.testing.assert_array_equal(truth[:, :, labels == -1], 0.0)
    # away from every object's edge in both frames, the background is unchanged and object 1 moved by 1 px in x
    frames = ds["frames"].values
    background = scipy.ndimage.binary_erosion((labels == -1) & (scene.layer_map(1) == -1), iterations=2)
    np.testing.assert_array_equal(frames[1][background], frames[0][background])
    interior = scipy.ndimage.binary_erosion(labels == 1, iterations=3)
    ys, xs = np.nonzero(interior)
    np.testing.assert_allclose(frames[1][ys, xs + 1], frames[0][ys, xs], atol=1e-6)


def test_top_object_covers_the_one_below_and_magnifies_alone():
    below = Layer(SpeckleTexture(seed=1, stream=1, mean=0.3, contrast=0.1), Motion(drift=(0.5, 0.0)), Ellipse((16, 16), (10, 10)))
    above = Layer(SpeckleTexture(seed=1, stream=2, mean=0.8, contrast=0.1), Motion(drift=(0.0, 0.25)), Ellipse((16, 16), (4, 4)))
    scene = ObjectScene(shape=(32, 32), frame_rate="1 Hz", background=Layer(SpeckleTexture()), objects=(below, above))
    labels = scene.layer_map(0)
    assert labels[16, 16] == 1 and labels[16, 8] == 0 and labels[1, 1] == -1
    assert scene.frames()[0, 16, 16] > 0.7  # the bright top object is what shows
    out = scene.render_magnified(8.0, components=[1])
    truth = out["true_displacement"].values[1]
    assert truth[1, 16, 16] == pytest.approx(2.0) and truth[0, 16, 8] == pytest.approx(0.5)


def test_random_object_motion_is_small():
    ds = object_scene((48, 48), seed=11, supersample=1)
    magnitude = np.hypot(*ds["true_displacement"].values[1])
    moving = magnitude[magnitude > 0]
    assert moving.size and 0.04 - 1e-12 <= moving.min() and moving.max() <= 1.0 + 1e-12


# --------------------------------------------------------------------------- (8) errors


@pytest.mark.parametrize("shape", [(0, 10), (10,), "big", (10.5, 10)])
def test_bad_shapes_are_refused(shape):
    with pytest.raises(SceneError, match="shape"):
        vibrating_plate(shape)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (dict(frequency="25 Hz", amplitude=-0.1), SceneError, "amplitude"),
        (dict(frequency="25 mm", amplitude=0.1), UnitError, "frequency"),
        (dict(frequency=25.0, amplitude=0.1), UnitError, "no unit"),
        (dict(frequency="25 Hz", amplitude=0.1, direction=(0, 0)), SceneError, "zero"),
        (dict(frequency="25 Hz", amplitude=0.1, shape="torsion"), SceneError, "shape"),
    ],
)
def test_bad_modes_are_refused(arguments, error, message):
    with pytest.raises(error, match=message):
        Mode(**arguments)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (dict(band=("20 mm", "30 Hz")), UnitError, "frequency"),
        (dict(band=(20, 30)), UnitError, "no unit"),
        (dict(band=("30 Hz", "20 Hz")), SceneError, "low < high"),
        (dict(band=("20 Hz", "30 Hz"), components=[0]), SceneError, "not both"),
        (dict(components=[5]), SceneError, "components are"),
        (dict(components=[True]), SceneError, "booleans"),
    ],
)
def test_bad_magnification_requests_are_refused(options, error, message):
    ds = small_plate(n_frames=2).render()
    with pytest.raises(error, match=message):
        render_magnified(ds, 2.0, **options)


def test_bad_alpha_and_recordings_are_refused():
    ds = small_plate(n_frames=2).render()
    with pytest.raises(SceneError, match=r"frame shape \(40, 48\)"):
        render_magnified(ds, np.ones((40, 40)))
    with pytest.raises(SceneError, match="cropped"):
        render_magnified(ds.isel(x=slice(0, 20)), 2.0)
    with pytest.raises(SceneError, match="'scene' attribute"):
        render_magnified(ds.drop_attrs(), 2.0)
    objects = object_scene((16, 16), n_objects=1, supersample=1)
    with pytest.raises(SceneError, match="scalar alpha"):
        render_magnified(objects, np.ones((16, 16)))


def test_folding_motion_is_reported_not_rendered():
    # gradient of a 40 px bending mode along x on a 48 px plate is 40 pi / 48 > 1: no inverse
    scene = small_plate(modes=(Mode("250 Hz", 40.0, shape="bending"),), n_frames=2)
    with pytest.raises(SceneError, match="no inverse"):
        scene.frames()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(bit_depth=17), "bit_depth"),
        (dict(noise=-0.1), "noise"),
        (dict(supersample=0), "supersample"),
        (dict(frame_rate="-5 Hz"), "frame_rate"),
        (dict(seed=-1), "seed"),
        (dict(speckle_size=0.0), "speckle_size"),
    ],
)
def test_bad_scene_options_are_refused(options, message):
    with pytest.raises(SceneError, match=message):
        small_plate(**options)


def test_outline_distance_measures_from_where_the_exact_motion_changes():
    from vibmag.synthetic import outline_distance

    truth = np.zeros((2, 2, 32, 32))
    truth[1, 0, 10:20, 10:20] = 0.3  # a square moving 0.3 px in x over a still background; frame 0 still
    distance = outline_distance(truth)
    assert distance.shape == (2, 32, 32) and np.all(np.isinf(distance[0]))
    # the motion changes between x = 9 and 10 and between 19 and 20 (and likewise in y): those pixels are outline
    assert distance[1, 15, 10] == 0 and distance[1, 15, 20] == 0 and distance[1, 10, 15] == 0
    assert distance[1, 15, 15] == 5 and distance[1, 15, 25] == 5 and distance[1, 15, 9] == 1
    assert np.array_equal(outline_distance(truth[1]), distance[1])
    assert np.all(np.isinf(outline_distance(truth[1], threshold=0.7)))  # the corner changes by 0.3 + 0.3
    with pytest.raises(ValueError, match=r"\(T, 2, H, W\) or \(2, H, W\)"):
        outline_distance(np.zeros((3, 32, 32)))
