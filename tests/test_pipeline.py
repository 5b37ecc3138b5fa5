"""Whole-recording magnification against exact renders from vibmag.synthetic."""

import sys
import threading

import numpy as np
import pytest
import xarray as xr

import vibmag
from vibmag.analysis import BandError, RegionError
from vibmag.errors import CancelledError, OptionError, OptionValueError, OverwriteError, UnitError
from vibmag.pipeline import MagnifyError
from vibmag.pipeline import magnify as run_magnify
from vibmag.synthetic import Mode, object_scene, render_magnified, vibrating_plate

BAND = ("40 Hz", "80 Hz")
MIDDLE = (slice(20, 60), slice(8, -8), slice(8, -8))  # away from the band-pass start-up and the borders


@pytest.fixture(scope="module")
def two_modes():
    """A 12 Hz horizontal rigid mode, a 60 Hz vertical bending mode and a slow drift."""
    modes = [Mode("12 Hz", 0.05, direction=0, shape="rigid"), Mode("60 Hz", 0.05, direction=90, shape="bending")]
    return vibrating_plate((64, 64), n_frames=80, frame_rate="400 Hz", modes=modes, speckle_size=4, drift=(2.0, 0.0))


@pytest.fixture(scope="module")
def only_60hz(two_modes):
    return render_magnified(two_modes, 10.0, band=BAND)["frames"].values


def rms(a, b, where=MIDDLE):
    return float(np.sqrt(np.mean((a[where] - b[where]) ** 2)))


# flowmag: the shipped weights. On this smooth speckle its error is ~8x the Lagrangian warp's (measured ratio 0.31
# against 0.04): it resamples bilinearly where "lagrangian" uses cubic B-splines (tests/magnification/test_shipped_model.py)
@pytest.mark.parametrize(("method", "ratio"), [("flowmag", 0.45), ("lagrangian", 0.1), ("phase", 0.7), ("linear", 0.8)])
def test_only_the_band_is_magnified(two_modes, only_60hz, method, ratio):
    out = run_magnify(two_modes, 10.0, band=BAND, method=method)
    assert out["frames"].dims == ("time", "y", "x") and out["frames"].dtype == np.float32
    assert rms(out["frames"].values, only_60hz) < ratio * rms(two_modes["frames"].values, only_60hz)


def test_chunk_boundaries_leave_no_seams(two_modes):
    whole = run_magnify(two_modes, 10.0, band=BAND, method="lagrangian", chunk_frames=80)["frames"].values
    pieces = run_magnify(two_modes, 10.0, band=BAND, method="lagrangian", chunk_frames=7)["frames"].values
    np.testing.assert_allclose(pieces, whole, atol=1e-5)


# flowmag measured 0.33-0.37 (seeds 0-2), lagrangian 0.03-0.04. Its reference frame (zero displacement) is not
# returned exactly: the network's residual image R adds up to 6.6e-4-7.9e-4 (seeds 0-2; 1.1e-3 at alpha 20).
@pytest.mark.parametrize(("method", "ratio", "still"), [("flowmag", 0.5, 2e-3), ("lagrangian", 0.3, 1e-5), ("phase", 0.6, 1e-5), ("linear", 0.7, 1e-5)])
def test_static_two_frame_mode(method, ratio, still):
    pair = vibrating_plate((64, 64), n_frames=2, frame_rate="40 Hz", modes=[Mode("10 Hz", 0.1, direction=30, shape="rigid")], speckle_size=4)
    exact = render_magnified(pair, 5.0)["frames"].values
    out = run_magnify(pair, 5.0, method=method)["frames"].values
    where = (1, slice(10, -10), slice(10, -10))
    np.testing.assert_allclose(out[0], pair["frames"].values[0], atol=still)  # the reference frame: zero motion
    assert rms(out, exact, where) < ratio * rms(pair["frames"].values, exact, where)


@pytest.fixture(scope="module")
def objects():
    """Three textured objects over a still background, each vibrating at 40 Hz in its own direction (0.2-0.3 px)."""
    motion = [Mode("40 Hz", 0.3, direction=20), Mode("40 Hz", 0.2, direction=120), Mode("40 Hz", 0.25, direction=250)]
    return object_scene((96, 96), n_frames=40, n_objects=3, frame_rate="200 Hz", motion=motion, seed=3)


def test_flowmag_with_the_shipped_weights_on_occluding_objects(objects):
    """The default method against the exact render, beside the Lagrangian warp: where objects occlude, both leave
    about 0.4 of doing nothing's error (measured, seeds 3 / 4: flowmag 0.41 / 0.44, lagrangian 0.40 / 0.42)."""
    band = ("20 Hz", "60 Hz")
    exact = render_magnified(objects, 8.0, band=band)["frames"].values  # 1.6-2.4 px magnified
    where = (slice(10, 40), slice(8, -8), slice(8, -8))
    flowmag = run_magnify(objects, 8.0, band=band)
    assert flowmag.attrs["method"] == "flowmag" and flowmag.attrs["model"].startswith("vibmag Magnifier flow")
    lagrangian = run_magnify(objects, 8.0, band=band, method="lagrangian")["frames"].values
    error = rms(flowmag["frames"].values, exact, where)
    assert error < 0.55 * rms(objects["frames"].values, exact, where)
    assert error <= 1.1 * rms(lagrangian, exact, where)


def test_region_magnifies_inside_and_leaves_outside_as_recorded(two_modes):
    out = run_magnify(two_modes, 10.0, band=BAND, method="lagrangian", region=(0, 0, 64, 32), transition=4)
    frames = two_modes["frames"].values
    np.testing.assert_allclose(out["frames"].values[:, :, 34:], frames[:, :, 34:], atol=1e-4)
    inside = (slice(20, 60), slice(8, 56), slice(8, 26))
    assert rms(out["frames"].values, render_magnified(two_modes, 10.0, band=BAND)["frames"].values, inside) < 0.2 * rms(frames, render_magnified(two_modes, 10.0, band=BAND)["frames"].values, inside)


@pytest.mark.parametrize("gate", [True, False])
def test_static_background_stays_still(gate):
    """Far (>= 10 px) from anything that moves, the output equals the input; without the gate it wobbles."""
    import scipy.ndimage

    scene = object_scene((64, 64), n_frames=40, n_objects=2, frame_rate="200 Hz", seed=4)
    result = run_magnify(scene, 20.0, band=("5 Hz", "60 Hz"), method="lagrangian", gate=gate)
    frames = scene["frames"].values
    static = scipy.ndimage.distance_transform_edt(np.all(frames == frames[:1], axis=0)) >= 10
    assert static.sum() > 500
    wobble = np.abs(result["frames"].values[:, static] - frames[:, static]).max()
    if gate:
        assert wobble < 1e-4
        assert result["motion_evidence"].values[static].max() < 1e-3
        moving = np.abs(scene["true_displacement"].values).max(axis=(0, 1)) > 0.1
        assert np.median(result["motion_evidence"].values[moving]) > 0.5
    else:
        assert wobble > 0.01


def test_result_streams_to_hdf5_and_keeps_provenance(two_modes, tmp_path):
    memory = run_magnify(two_modes, 10.0, band=BAND, method="linear")
    path = tmp_path / "out.h5"
    saved = run_magnify(two_modes, 10.0, band=BAND, method="linear", output=path, chunk_frames=9)
    np.testing.assert_allclose(saved["frames"].values, memory["frames"].values, atol=1e-6)
    lagrangian = run_magnify(two_modes, 10.0, band=BAND, method="lagrangian", output=tmp_path / "lag.h5")
    assert lagrangian["motion_evidence"].dims == ("y", "x")
    for result in (memory, saved):
        assert result.attrs["alpha"] == 10.0 and result.attrs["band"] == list(BAND) and result.attrs["method"] == "linear"
        assert result.attrs["vibmag_version"] == vibmag.__version__ and result.attrs["frame_rate"] == "400 Hz"
    np.testing.assert_array_equal(saved["time"].values, two_modes["time"].values)
    with pytest.raises(OverwriteError, match="exists"):
        run_magnify(two_modes, 10.0, band=BAND, method="linear", output=path)


def test_colour_recordings_are_magnified_per_channel(two_modes):
    grey = two_modes["frames"].values
    colour = vibmag.open_recording(np.stack([grey, grey, grey], axis=-1), frame_rate="400 Hz")  # luma == grey
    out = run_magnify(colour, 10.0, band=BAND, method="lagrangian")["frames"]
    assert out.dims == ("time", "y", "x", "channel")
    mono = run_magnify(two_modes, 10.0, band=BAND, method="lagrangian")["frames"].values
    np.testing.assert_allclose(out.values[..., 0], mono, atol=1e-5)


def test_progress_takes_what_estimate_displacement_takes(two_modes, capsys):
    """False: no bar; True: a bar on stderr; anything else but a callable or None is refused by name."""
    quiet = run_magnify(two_modes, 3.0, band=BAND, method="linear", progress=False)
    assert capsys.readouterr().err == ""
    shown = run_magnify(two_modes, 3.0, band=BAND, method="linear", progress=True)
    assert "magnification" in capsys.readouterr().err
    np.testing.assert_array_equal(quiet["frames"].values, shown["frames"].values)
    with pytest.raises(TypeError, match="progress must be"):
        run_magnify(two_modes, 3.0, band=BAND, method="linear", progress="yes")


def test_progress_and_cancel(two_modes, tmp_path):
    seen = []
    run_magnify(two_modes, 3.0, band=BAND, method="linear", progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] == 160 and [d for d, _ in seen] == sorted(d for d, _ in seen)
    cancel = threading.Event()

    def stop_early(done, total):
        if done >= 32:
            cancel.set()

    with pytest.raises(CancelledError):
        run_magnify(two_modes, 3.0, band=BAND, method="linear", output=tmp_path / "x.h5", progress=stop_early, cancel=cancel)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"alpha": 0}, MagnifyError, "alpha must be finite and > 0"),
        ({"alpha": float("nan")}, MagnifyError, "alpha must be finite"),
        ({"alpha": np.ones((3, 3))}, MagnifyError, r"map shaped \(y, x\) = \(64, 64\), got shape \(3, 3\)"),
        ({"band": ("150 Hz", "250 Hz")}, BandError, "Nyquist frequency 200 Hz"),
        ({"band": ("60 Hz", "40 Hz")}, BandError, "must be below"),
        ({"band": ("40 mm", "80 Hz")}, UnitError, "is not a frequency"),
        ({"band": "40 Hz"}, BandError, "pair"),
        ({"region": (100, 100, 120, 120)}, RegionError, "does not lie within the frame"),
        ({"method": "magic"}, MagnifyError, "unknown method 'magic'"),
        ({"reference": 99}, MagnifyError, r"reference must be a frame index in \[0, 80\)"),
        ({"output": "/nonexistent-folder/x.h5"}, MagnifyError, "does not exist"),
        ({"output": "x.mp4"}, MagnifyError, "HDF5"),
        ({"flow_options": {"hipass": 4.0}}, OptionError, "unknown option 'hipass' \\(did you mean 'highpass'\\?\\)"),
        ({"flow_options": "highpass=4"}, OptionValueError, "flow_options must be a dict of the flow estimator's options, got str"),
        ({"flow_options": {"highpass": 4.0}, "method": "linear"}, MagnifyError, "'linear' measures none"),
    ],
)
def test_bad_arguments_are_refused_before_work(two_modes, kwargs, error, message):
    arguments = {"alpha": 10.0, "method": "lagrangian", **kwargs}
    with pytest.raises(error, match=message):
        run_magnify(two_modes, arguments.pop("alpha"), **arguments)


def test_a_lighting_change_is_not_magnified_with_the_flow_highpass():
    # a 0.05 px bending mode at 25 Hz, lit by a 10 px blob whose brightness swings by 6 % at the same 25 Hz; truth:
    # the same plate rendered with the mode at 20 x and the same light. Read as it is, the light is taken for
    # motion and magnified (RMS error 0.069 against the exact render, worse than doing nothing, 0.045); with
    # highpass=4 px the estimator and the motion-evidence gate compare the frames less their local mean (0.010,
    # the unlit plate's 0.008)
    t = np.arange(64) / 500.0
    y, x = np.mgrid[:64, :64]
    light = 0.06 * np.sin(2 * np.pi * 25 * t + 1.0)[:, None, None] * np.exp(-((x - 30) ** 2 + (y - 34) ** 2) / 200.0)

    def lit_plate(amplitude):
        ds = vibrating_plate((64, 64), n_frames=64, frame_rate="500 Hz", seed=3,
                             modes=[Mode("25 Hz", amplitude, direction=90, shape="bending")])
        return ds.assign(frames=(ds["frames"].dims, (ds["frames"].values + light).astype(np.float32)))

    source, exact = lit_plate(0.05), lit_plate(1.0)

    def rms_error(**options):
        out = run_magnify(source, 20, band=("15 Hz", "35 Hz"), method="lagrangian", **options)
        return float(np.sqrt(((out["frames"].values - exact["frames"].values)[16:48, 8:-8, 8:-8] ** 2).mean()))

    nothing = float(np.sqrt(((source["frames"].values - exact["frames"].values)[16:48, 8:-8, 8:-8] ** 2).mean()))
    assert rms_error() > nothing
    assert rms_error(flow_options={"highpass": 4.0}) < 0.3 * nothing


def test_one_frame_is_refused():
    with pytest.raises(MagnifyError, match="at least 2 frames"):
        run_magnify(vibmag.open_recording(np.zeros((1, 8, 8)), frame_rate="1 kHz"), 5.0, method="linear")


def test_alpha_map_as_dataarray(two_modes):
    alpha = xr.DataArray(np.full((64, 64), 10.0), dims=("y", "x"))
    out = run_magnify(two_modes, alpha, band=BAND, method="lagrangian")
    assert out.attrs["alpha"] == "per-pixel map" and out.attrs["alpha_max"] == 10.0


@pytest.mark.parametrize("method", ["flowmag", "lagrangian"])
def test_compute_batches_inside_a_chunk_change_nothing(two_modes, method, monkeypatch):
    """Pass 1 (estimator calls and Lucas-Kanade's level groups) and pass 2 split each chunk into batches; three-frame
    batches give the same video."""
    whole = run_magnify(two_modes, 10.0, band=BAND, method=method)["frames"].values
    three = 3 * two_modes.sizes["y"] * two_modes.sizes["x"]
    for module, name in (("vibmag.flow.api", "BATCH_PIXELS"), ("vibmag.flow.api", "CALL_PIXELS"),
                         ("vibmag.flow.lk", "LEVEL_PIXELS")):
        monkeypatch.setattr(sys.modules[module], name, three)
    batched = run_magnify(two_modes, 10.0, band=BAND, method=method)["frames"].values
    np.testing.assert_allclose(batched, whole, atol=1e-6)
