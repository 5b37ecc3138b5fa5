"""vibmag.estimate_displacement: labelled, streamed displacement of a whole recording against exact truth."""

from __future__ import annotations

import numpy as np
import pint
import pytest
import torch

import vibmag
from vibmag.analysis import RegionError
from vibmag.errors import RecordingError
from vibmag.flow import LucasKanade
from vibmag.synthetic import Mode, vibrating_plate

BORDER = 8


@pytest.fixture(scope="module")
def plate():
    """A speckle plate bending at 100 Hz (0.3 px, along 60 degrees), 12 frames, 0.05 mm pixels."""
    return vibrating_plate((64, 80), n_frames=12, frame_rate="1 kHz", modes=[Mode("100 Hz", 0.3, direction=60)],
                           seed=2, pixel_size="0.05 mm")


@pytest.fixture(scope="module")
def measured(plate):
    return vibmag.estimate_displacement(plate, chunk_frames=5, progress=False, return_confidence=True)


def _interior(da):
    return da.isel(y=slice(BORDER, -BORDER), x=slice(BORDER, -BORDER))


def test_layout_units_and_coords(plate, measured):
    disp = measured["displacement"]
    assert disp.dims == ("time", "component", "y", "x") and disp.dtype == np.float32
    assert list(disp["component"].values) == ["x", "y"]
    assert disp.attrs["units"] == "px" and disp.attrs["pixel_size"] == "0.05 mm"
    assert disp.attrs["frame_rate"] == plate.attrs["frame_rate"] and disp.attrs["reference"] == 0
    for name in ("time", "y", "x"):
        np.testing.assert_array_equal(disp[name].values, plate[name].values)
    pint.UnitRegistry().Quantity(1, disp.attrs["units"].replace("px", "pixel"))  # parses
    conf = measured["confidence"]
    assert conf.dims == ("time", "y", "x") and conf.attrs["units"] == "1"
    assert float(conf.min()) >= 0.0 and float(conf.max()) <= 1.0


def test_matches_the_exact_displacement_over_chunks(plate, measured):
    error = _interior(measured["displacement"] - plate["true_displacement"])
    assert float(abs(error).max()) < 0.02
    assert float(np.sqrt((error**2).mean())) < 0.005
    assert float(abs(measured["displacement"].isel(time=0)).max()) < 1e-4  # the reference against itself


def test_to_physical_converts_px_to_mm(measured):
    mm = vibmag.to_physical(measured["displacement"])
    assert mm.attrs["units"] == "mm"
    np.testing.assert_allclose(mm.values, measured["displacement"].values * 0.05, rtol=1e-6)


def test_region_limits_the_work_and_leaves_the_rest_unmeasured(plate, measured):
    calls = []

    class Counting(LucasKanade):
        def track(self, reference, moving):
            calls.append(tuple(moving.shape[-2:]))
            return super().track(reference, moving)

    box = (20, 30, 40, 50)
    disp = vibmag.estimate_displacement(plate, region=box, method=Counting(), margin=4, progress=False)
    assert set(calls) == {(28, 28)}  # the box plus 4 px of context, not the frame
    inside = disp.isel(y=slice(20, 40), x=slice(30, 50))
    assert not np.isnan(inside.values).any()
    assert np.isnan(disp.isel(y=slice(0, 20)).values).all() and np.isnan(disp.isel(x=slice(50, None)).values).all()
    error = inside - plate["true_displacement"].isel(y=slice(20, 40), x=slice(30, 50))
    assert float(abs(error).max()) < 0.03


def test_boolean_mask_region(plate):
    mask = np.zeros((64, 80), bool)
    mask[10:30, 10:20] = True
    mask[25:35, 15:45] = True
    disp = vibmag.estimate_displacement(plate, region=mask, progress=False)
    measured = ~np.isnan(disp.values[0, 0])
    np.testing.assert_array_equal(measured, mask)


def test_mean_reference(plate):
    disp = vibmag.estimate_displacement(plate, reference="mean", progress=False)
    truth = plate["true_displacement"] - plate["true_displacement"].mean("time")
    # relative to the mean frame, the motion is the truth minus its mean (first order in the small motion)
    error = _interior(disp - truth)
    assert disp.attrs["reference"] == "mean" and float(abs(error).max()) < 0.05


def test_negative_reference_counts_from_the_end(plate):
    disp = vibmag.estimate_displacement(plate, reference=-1, progress=False)
    truth = plate["true_displacement"] - plate["true_displacement"].isel(time=-1)
    assert disp.attrs["reference"] == 11
    assert float(abs(_interior(disp - truth)).max()) < 0.03


def test_colour_recording_is_measured_on_luminance(plate):
    colour = plate.copy()
    colour["frames"] = plate["frames"].expand_dims(channel=3, axis=-1).copy()
    grey = vibmag.estimate_displacement(plate.isel(time=slice(0, 3)), progress=False)
    rgb = vibmag.estimate_displacement(colour.isel(time=slice(0, 3)), progress=False)
    np.testing.assert_allclose(rgb.values, grey.values, atol=1e-5)


def test_estimator_object_is_accepted(plate):
    disp = vibmag.estimate_displacement(plate.isel(time=slice(0, 3)), method=LucasKanade(window=3.0), progress=False)
    assert disp.attrs["method"] == "LucasKanade"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [({"reference": 12}, ValueError, "reference index 12 is out of range for 12 frames"),
     ({"reference": "median"}, ValueError, "reference must be a frame index or 'mean'"),
     ({"region": (0, 0, 100, 10)}, RegionError, r"box \(y0, x0, y1, x1\) = \(0, 0, 100, 10\) does not lie within the frame"),
     ({"region": np.zeros((64, 80), bool)}, RegionError, "the mask selects no pixel"),
     ({"region": np.ones((10, 10), bool)}, RegionError, r"expected the frame's shape \(y, x\) = \(64, 80\)"),
     ({"chunk_frames": 0}, ValueError, "chunk_frames must be a positive integer"),
     ({"method": "no-such-method"}, ValueError, "no-such-method"),
     ({"method": LucasKanade(), "window": 3.0}, ValueError, "apply to named methods only")],
)  # fmt: skip
def test_bad_arguments_name_the_problem(plate, kwargs, error, message):
    with pytest.raises(error, match=message):
        vibmag.estimate_displacement(plate, progress=False, **kwargs)


def test_not_a_recording_is_refused():
    with pytest.raises(RecordingError, match="needs a recording Dataset with a 'frames' variable"):
        vibmag.estimate_displacement(torch.zeros(3, 8, 8))


@pytest.mark.parametrize(("size", "frames"), [((512, 512), 2), ((256, 256), 8), ((1024, 1024), 1), ((4000, 3000), 1),
                                              ((8, 8), 8192)])
def test_default_batch_holds_about_half_a_million_pixels(size, frames):
    from vibmag.flow.api import BATCH_PIXELS, batch_frames_for

    assert BATCH_PIXELS == 2**19 and batch_frames_for(*size) == frames


@pytest.mark.parametrize(("size", "frames"), [((512, 512), 16), ((256, 256), 64), ((1024, 1024), 4), ((4000, 3000), 1)])
def test_default_estimator_call_holds_about_four_million_pixels(size, frames):
    from vibmag.flow.api import CALL_PIXELS, call_frames_for

    assert CALL_PIXELS == 2**22 and call_frames_for(*size) == frames
