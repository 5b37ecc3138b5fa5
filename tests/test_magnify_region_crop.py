"""magnify with a region computes only the region's box plus a margin (issue 14), and gets the whole frame's result.

Each cropped run is compared with the same run on the whole frame (the private switch
``vibmag.pipeline.magnifying._CROP`` off, as before issue 14): inside the region the two agree to
:data:`TOLERANCE` in intensity, outside the computed box the cropped result is the input, bit for bit.
"""

import contextlib

import numpy as np
import pytest
import scipy.ndimage

from vibmag.analysis import region_mask
from vibmag.magnification.alpha import DEFAULT_TRANSITION, alpha_grid, with_region
from vibmag.pipeline import METHODS, magnify, magnifying
from vibmag.synthetic import Mode, object_scene, render_magnified, vibrating_plate

#: Largest |cropped - whole frame| inside the region, intensity (frames in [0, 1]). Measured on the plate: 4e-5 to 6e-5
#: for flowmag, lagrangian, splat and linear, 8.6e-4 for phase (below).
TOLERANCE = 1e-3
#: Methods that decide at a threshold, so that a tiny change anywhere can move a few samples by much more: the forward
#: splat (which of two landing pixels is in front: a flow changed by 1e-4 px flips a few samples by their contrast;
#: also the base of the shipped flowmag model)
#: and the phase method (its exact Riesz transform reads the whole crop, and the phase is ill-defined where a band's
#: amplitude vanishes: its largest difference stays near 1e-3 whatever the margin, its RMS is 1e-4). For them, this
#: quantile of |cropped - whole frame| is held to TOLERANCE instead of the maximum.
QUANTILE = 0.999
THRESHOLDED = ("splat", "flowmag", "phase")
BAND = ("20 Hz", "60 Hz")
SIZE = 160
REGION = (56, 56, 104, 104)  # a 48 px box in the middle of a 160 px frame
OBJECT_REGION = (56, 60, 110, 112)  # holds object 0 of the object scene (seed 2) and background around it


@pytest.fixture(scope="module")
def plate():
    """A speckle plate bending at 40 Hz by 0.1 px, noise 1/255: everything moves, exact renders available."""
    mode = Mode("40 Hz", 0.1, direction=30, shape="bending")
    return vibrating_plate((SIZE, SIZE), n_frames=32, frame_rate="400 Hz", modes=[mode], speckle_size=4, noise=1 / 255,
                           supersample=2)


@pytest.fixture(scope="module")
def objects():
    """Three rigid objects vibrating at 40 Hz over a still background, noise 1/255: the gate has work to do."""
    motion = [Mode("40 Hz", amplitude, direction=direction, shape="rigid") for amplitude, direction in ((0.15, 30), (0.1, 90), (0.2, 0))]
    return object_scene((SIZE, SIZE), n_frames=32, n_objects=3, frame_rate="400 Hz", motion=motion, noise=1 / 255, seed=2)


@contextlib.contextmanager
def whole_frame():
    """Inside: magnify computes the whole frame, as before issue 14."""
    magnifying._CROP = False
    try:
        yield
    finally:
        magnifying._CROP = True


def both(ds, alpha, **kwargs):
    """``(cropped, whole-frame)`` results of the same magnify call."""
    cropped = magnify(ds, alpha, **kwargs)
    with whole_frame():
        whole = magnify(ds, alpha, **kwargs)
    return cropped, whole


def outside(box, shape) -> np.ndarray:
    """(H, W) bool: the pixels outside ``box`` (y0, x0, y1, x1)."""
    mask = np.ones(shape, dtype=bool)
    mask[box[0] : box[2], box[1] : box[3]] = False
    return mask


def worst(cropped, whole, inside, method) -> float:
    """The largest |cropped - whole frame| inside (for the THRESHOLDED methods: its QUANTILE quantile)."""
    difference = np.abs(cropped["frames"].values - whole["frames"].values)[:, inside]
    return float(np.quantile(difference, QUANTILE) if method in THRESHOLDED else difference.max())


def check_agreement(cropped, whole, ds, inside, method):
    """Cropped within TOLERANCE of whole frame inside; the input exactly outside the computed box; whole frame near it there."""
    box = cropped.attrs["crop"]
    assert box is not None and (box[2] - box[0]) * (box[3] - box[1]) < 0.75 * inside.size, f"no real crop: {box}"
    difference = worst(cropped, whole, inside, method)
    assert difference <= TOLERANCE, f"{method}: cropped and whole frame differ by {difference:.2e} inside the region"
    away = outside(box, inside.shape)
    frames = ds["frames"].values.astype(np.float32)
    np.testing.assert_array_equal(cropped["frames"].values[:, away], frames[:, away])
    np.testing.assert_allclose(whole["frames"].values[:, away], frames[:, away], atol=1e-4)  # nothing was lost out there


@pytest.mark.parametrize("method", METHODS)
def test_cropped_run_matches_the_whole_frame(plate, method):
    inside = region_mask(plate, REGION).values > 0.5
    cropped, whole = both(plate, 10.0, band=BAND, region=REGION, method=method)
    check_agreement(cropped, whole, plate, inside, method)
    if method in ("flowmag", "lagrangian", "splat"):
        evidence = cropped["motion_evidence"]
        assert evidence.dims == ("y", "x") and evidence.shape == (SIZE, SIZE)
        np.testing.assert_allclose(evidence.values[inside], whole["motion_evidence"].values[inside], atol=1e-3)
        assert not evidence.values[outside(cropped.attrs["crop"], inside.shape)].any()  # 0: not measured, and alpha is 1


@pytest.fixture(scope="module", params=["lagrangian", "flowmag", "splat"])
def on_objects(request, objects):
    """``(method, cropped, whole frame)`` on the object scene, alpha 10 in a box around object 0."""
    return request.param, *both(objects, 10.0, band=BAND, region=OBJECT_REGION, method=request.param)


def test_the_gate_decides_on_the_crop_as_on_the_whole_frame(objects, on_objects):
    """Objects over still background: the gate in the region is the whole frame's, and it still keeps the background still."""
    method, cropped, whole = on_objects
    inside = region_mask(objects, OBJECT_REGION).values > 0.5
    gate = cropped["motion_evidence"].values
    np.testing.assert_allclose(gate[inside], whole["motion_evidence"].values[inside], atol=1e-3)
    moving = np.abs(objects["true_displacement"].values).max(axis=(0, 1)) > 0.05
    assert np.median(gate[inside & moving]) > 0.5
    box = cropped.attrs["crop"]
    crop = (slice(box[0], box[2]), slice(box[1], box[3]))
    still = (scipy.ndimage.distance_transform_edt(~moving) >= 12)[crop]  # beyond the gate's reach from anything moving
    assert still.sum() > 1000 and gate[crop][still].max() < 1e-3
    assert not gate[outside(box, gate.shape)].any()
    frames = objects["frames"].values
    np.testing.assert_array_equal(cropped["frames"].values[:, outside(box, gate.shape)], frames[:, outside(box, gate.shape)])
    # the default estimator's fit is local, so the crop agrees to TOLERANCE here too; with max_window= (the adaptive
    # window) it would not: that takes the noise level from the median residual of the frame it is given, the crop's
    # own (0.0059 against 0.0056 here), which moved results at motion edges by up to 4.7e-3
    check_agreement(cropped, whole, objects, inside, method)


def test_a_per_pixel_alpha_map_is_cropped_where_it_is_not_1(plate):
    """No region: the box where the map differs from 1 is what is computed."""
    inside = region_mask(plate, REGION).values > 0.5
    alpha = with_region(alpha_grid(8.0, (SIZE, SIZE)), inside, DEFAULT_TRANSITION)
    cropped, whole = both(plate, alpha, band=BAND, method="lagrangian")
    check_agreement(cropped, whole, plate, inside, "lagrangian")


def test_the_crop_grows_with_the_magnified_motion():
    """alpha 11 times a 3 px shift moves the image by 30 px: pass 1 measures again on a box with the margin that needs."""
    shape, region, alpha, reach = (144, 320), (48, 124, 80, 196), 11.0, 30
    ds = vibrating_plate(shape, n_frames=32, frame_rate="400 Hz", modes=[Mode("40 Hz", 3.0, direction=0, shape="rigid")],
                         speckle_size=4, noise=1 / 255, supersample=2)
    inside = region_mask(ds, region).values > 0.5
    first = magnifying._crop_box(with_region(alpha_grid(alpha, shape), inside, DEFAULT_TRANSITION).astype(np.float32))
    lands = np.zeros(shape, dtype=bool)  # where the magnified region lands
    lands[region[0] : region[2], region[1] - reach : region[3] + reach] = True
    for method in ("lagrangian", "splat"):
        cropped, whole = both(ds, alpha, band=BAND, region=region, method=method)
        box = cropped.attrs["crop"]
        assert box[1] < first[1] and box[3] > first[3] and box[1] <= region[1] - reach - 8 and box[3] >= region[3] + reach + 8
        check_agreement(cropped, whole, ds, lands, method)


def test_magnified_motion_in_the_region_is_alpha_times_the_true_motion(plate):
    """Scored against vibmag.synthetic's exact render of the same alpha map: a scorer with no flow estimate and no model."""
    inside = region_mask(plate, REGION).values > 0.5
    alpha = with_region(alpha_grid(10.0, (SIZE, SIZE)), inside, DEFAULT_TRANSITION)
    exact = render_magnified(plate, alpha, band=BAND)["frames"].values
    frames = plate["frames"].values
    where = (slice(8, 24), *np.nonzero(inside))  # frames away from the band-pass start-up and end
    before = np.sqrt(np.mean((frames[where] - exact[where]) ** 2))
    for method, ratio in (("lagrangian", 0.2), ("flowmag", 0.35)):
        out = magnify(plate, 10.0, band=BAND, region=REGION, method=method)
        assert out.attrs["crop"] is not None
        after = np.sqrt(np.mean((out["frames"].values[where] - exact[where]) ** 2))
        assert after < ratio * before, f"{method}: RMS to the exact render {after:.4f}, the input's {before:.4f}"


def test_pass_1_measures_only_the_crop(plate, monkeypatch):
    sizes = []
    real = magnifying.iter_displacement

    def recording(ds, *args, **kwargs):
        sizes.append((ds.sizes["y"], ds.sizes["x"]))
        return real(ds, *args, **kwargs)

    monkeypatch.setattr(magnifying, "iter_displacement", recording)
    out = magnify(plate.isel(time=slice(0, 4)), 10.0, region=REGION, method="lagrangian")
    box = out.attrs["crop"]
    assert sizes == [(box[2] - box[0], box[3] - box[1])] and sizes[0][0] * sizes[0][1] < SIZE * SIZE


@pytest.mark.parametrize(
    ("changed", "shape", "expected"),
    [
        ((500, 500, 628, 628), (1024, 1024), (464, 464, 672, 672)),  # margin 32 each side, corners on 16 px
        ((0, 0, 20, 20), (1024, 1024), (0, 0, 128, 128)),  # at least 128 px a side, inside the frame
        ((10, 10, 90, 90), (100, 100), (0, 0, 100, 100)),  # the whole of a small frame
    ],
)
def test_crop_box(changed, shape, expected):
    alpha = np.ones(shape, dtype=np.float32)
    alpha[changed[0] : changed[2], changed[1] : changed[3]] = 3.0
    assert magnifying._crop_box(alpha) == expected
    with whole_frame():
        assert magnifying._crop_box(alpha) == (0, 0, *shape)


def test_no_crop_without_a_region(plate):
    out = magnify(plate.isel(time=slice(0, 2)), 5.0, method="linear")
    assert out.attrs["crop"] is None
