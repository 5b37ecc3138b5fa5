"""Region masks (mask, polygon, box), waveforms and orbits."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vibmag.analysis import RegionError, orbit, region_mask, waveform
from vibmag.recording import make_recording

FRAME = (6, 8)


@pytest.fixture
def frame():
    return xr.DataArray(np.zeros(FRAME), dims=("y", "x"), coords={"y": np.arange(6), "x": np.arange(8)})


def test_box_is_half_open_like_slices(frame):
    mask = region_mask(frame, (1, 2, 4, 7))
    expected = np.zeros(FRAME)
    expected[1:4, 2:7] = 1
    np.testing.assert_array_equal(mask.values, expected)
    assert mask.dims == ("y", "x") and mask.dtype == float and mask.attrs["units"] == "1"
    xr.testing.assert_identical(mask["x"].drop_attrs(), frame["x"])


def test_polygon_of_box_corners_selects_the_box(frame):
    corners = [(1, 2), (1, 7), (4, 7), (4, 2)]
    xr.testing.assert_identical(region_mask(frame, corners), region_mask(frame, (1, 2, 4, 7)))
    xr.testing.assert_identical(region_mask(frame, np.array(corners[::-1], float)), region_mask(frame, (1, 2, 4, 7)))


def test_polygon_selects_pixel_centres_inside(frame):
    triangle = [(-0.5, -0.5), (-0.5, 7.5), (5.5, -0.5)]  # the frame's outer corners: half the pixels
    mask = region_mask(frame, triangle).values
    y, x = np.meshgrid(np.arange(6), np.arange(8), indexing="ij")
    inside = (x + 0.5) / 8 + (y + 0.5) / 6 < 1
    np.testing.assert_array_equal(mask.astype(bool), inside)
    overshooting = [(-10, -10), (-10, 3.2), (20, 3.2), (20, -10)]
    assert region_mask(frame, overshooting).values.sum(axis=1).tolist() == [4] * 6


def test_masks_pass_through_as_weights(frame):
    weights = np.linspace(0, 1, 48).reshape(FRAME)
    np.testing.assert_array_equal(region_mask(frame, weights).values, weights)
    boolean = weights > 0.5
    np.testing.assert_array_equal(region_mask(frame, boolean).values, boolean.astype(float))
    as_dataarray = xr.DataArray(boolean.T, dims=("x", "y"))
    np.testing.assert_array_equal(region_mask(frame, as_dataarray).values, boolean.astype(float))
    assert region_mask(frame).values.all()


def test_recording_dataset_gives_the_frame_grid():
    ds = make_recording(np.zeros((2, *FRAME), np.uint8), frame_rate="100 Hz")
    assert region_mask(ds, (0, 0, 2, 2)).values.sum() == 4


@pytest.mark.parametrize(
    ("region", "message"),
    [
        (np.ones((5, 8), bool), r"mask is shaped \(5, 8\), expected the frame's shape \(y, x\) = \(6, 8\)"),
        (np.ones((3, 3)), r"shaped like the frame \(6, 8\)"),
        ((0, 0, 7, 8), r"box \(y0, x0, y1, x1\) = \(0, 0, 7, 8\) does not lie within the frame"),
        ((2, 2, 2, 5), r"does not lie within the frame: need 0 <= y0 < y1 <= 6"),
        ([(10, 10), (10, 12), (12, 12)], "polygon selects no pixel centre"),
        (np.zeros(FRAME), "selects no pixel"),
        ("everywhere", "region must be a mask shaped like the frame"),
    ],
)
def test_bad_regions_give_clear_errors(frame, region, message):
    with pytest.raises(RegionError, match=message):
        region_mask(frame, region)


def test_waveform_at_point_and_over_region(two_modes):
    disp = two_modes.disp
    at_point = waveform(disp, point=(3, 5))
    xr.testing.assert_identical(at_point.drop_attrs(), disp.isel(y=3, x=5, drop=True).drop_attrs())
    assert at_point.dims == ("time", "component") and at_point.attrs["units"] == "px"
    assert waveform(disp, point=(3.4, 4.6)).attrs["point_x"] == 5
    mean = waveform(disp, region=(2, 4, 10, 9))
    np.testing.assert_allclose(mean.values, disp.values[:, :, 2:10, 4:9].mean(axis=(2, 3)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(waveform(disp).values, disp.values.mean(axis=(2, 3)), rtol=1e-5, atol=1e-7)
    with pytest.raises(RegionError, match="lies outside the frame"):
        waveform(disp, point=(30, 2))
    with pytest.raises(RegionError, match="not both"):
        waveform(disp, point=(3, 5), region=(0, 0, 2, 2))


def test_waveform_on_a_dask_field_matches_numpy(two_modes):
    lazy = waveform(two_modes.disp.chunk({"x": 7}), region=(2, 4, 10, 9))
    xr.testing.assert_allclose(lazy.compute(), waveform(two_modes.disp, region=(2, 4, 10, 9)))


def test_orbit_is_x_and_y_over_time(two_modes):
    path = orbit(two_modes.disp, point=(3, 5))
    assert set(path.data_vars) == {"x", "y"} and path["x"].dims == ("time",)
    np.testing.assert_array_equal(path["y"].values, two_modes.disp.values[:, 1, 3, 5])
