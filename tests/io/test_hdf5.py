"""HDF5: lossless save/load round trips, atomic and safe writes, foreign files."""

import h5py
import numpy as np
import pytest
import xarray as xr

import vibmag
from vibmag import sample_data
from vibmag.errors import OverwriteError, RecordingError
from vibmag.io.hdf5 import is_vibmag_file


def results_dataset():
    rng = np.random.default_rng(3)
    return xr.Dataset(
        {
            "displacement": (("time", "component", "y", "x"), rng.normal(size=(3, 2, 4, 5)), {"units": "px"}),
            "shape": (("component", "y", "x"), (rng.normal(size=(2, 4, 5)) + 1j * rng.normal(size=(2, 4, 5))).astype("c8"), {"units": "mm"}),
            "valid": (("y", "x"), rng.random((4, 5)) > 0.5),
            "gappy": (("x",), np.array([1.0, np.nan, 3.0, np.inf, -0.0])),
        },
        coords={"time": ("time", [0.0, 0.001, 0.002], {"units": "s"}), "component": ["x", "y"]},
        attrs={"frame_rate": "1000 Hz", "alpha": 20.0, "band": ["15 Hz", "35 Hz"], "region": None, "settings": {"order": 4, "ok": True}, "n": 7, "flag": False},
    )


def test_dataset_round_trip_is_lossless(tmp_path):
    ds = results_dataset()
    vibmag.save(ds, tmp_path / "r.h5")
    back = vibmag.load(tmp_path / "r.h5")
    xr.testing.assert_identical(back, ds)
    assert back["shape"].dtype == np.complex64 and back["valid"].dtype == bool
    assert back.attrs["settings"] == {"order": 4, "ok": True} and back.attrs["region"] is None


def test_dataarray_round_trip(tmp_path):
    da = results_dataset()["displacement"].rename("displacement")
    vibmag.save(da, tmp_path / "d.h5")
    back = vibmag.load(tmp_path / "d.h5")
    assert isinstance(back, xr.DataArray)
    xr.testing.assert_identical(back, da)
    unnamed = da.rename(None)
    vibmag.save(unnamed, tmp_path / "u.h5")
    assert vibmag.load(tmp_path / "u.h5").name is None


def test_quantified_data_keeps_units(tmp_path):
    import pint_xarray  # noqa: F401

    da = xr.DataArray(np.arange(3.0), dims="time", name="v", attrs={"units": "mm"}).pint.quantify()
    vibmag.save(da, tmp_path / "q.h5")
    assert vibmag.load(tmp_path / "q.h5").attrs["units"] in ("mm", "millimeter")


def test_recording_round_trip_through_open_recording(tmp_path):
    ds = vibmag.open_recording(sample_data.path("ball"))
    vibmag.save(ds, tmp_path / "ball.h5")
    back = vibmag.open_recording(tmp_path / "ball.h5")
    assert back["frames"].chunks is not None
    np.testing.assert_array_equal(back["frames"].values, ds["frames"].values)
    assert back.attrs["frame_rate"] == "30000 Hz" and back.attrs["bit_depth"] == 12
    assert back.attrs["source"] == str(tmp_path / "ball.h5")


def test_groups_share_a_file_and_are_not_overwritten(tmp_path):
    path = tmp_path / "many.h5"
    one, two = results_dataset(), results_dataset().assign_attrs(n=8)
    vibmag.save(one, path, group="run1")
    vibmag.save(two, path, group="runs/run2")
    assert vibmag.load(path, "run1").attrs["n"] == 7
    assert vibmag.load(path, "runs/run2").attrs["n"] == 8
    with pytest.raises(OverwriteError, match="group 'run1' exists"):
        vibmag.save(two, path, group="run1")
    vibmag.save(two, path, group="run1", overwrite=True)
    assert vibmag.load(path, "run1").attrs["n"] == 8
    with pytest.raises(RecordingError, match="several groups"):
        vibmag.load(path)


def test_existing_file_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "r.h5"
    vibmag.save(results_dataset(), path)
    with pytest.raises(OverwriteError, match="exists; pass overwrite=True"):
        vibmag.save(results_dataset(), path)
    vibmag.save(results_dataset().assign_attrs(n=1), path, overwrite=True)
    assert vibmag.load(path).attrs["n"] == 1


def test_foreign_files_are_never_modified(tmp_path):
    path = tmp_path / "camera.h5"
    with h5py.File(path, "w") as f:
        f["frames"] = np.zeros((2, 3, 3), np.uint8)
    before = path.read_bytes()
    for kwargs in ({}, {"group": "extra"}, {"overwrite": True}):
        with pytest.raises(OverwriteError, match="not written by vibmag"):
            vibmag.save(results_dataset(), path, **kwargs)
    assert path.read_bytes() == before


def test_the_input_recording_is_never_written(tmp_path):
    ds = vibmag.open_recording(np.zeros((2, 4, 4), np.uint8), frame_rate="1 kHz")
    path = tmp_path / "rec.h5"
    vibmag.save(ds, path)
    reopened = vibmag.open_recording(path)
    with pytest.raises(OverwriteError, match="input recording"):
        vibmag.save(reopened, path, overwrite=True)


def test_failed_write_leaves_no_partial_file(tmp_path):
    bad = results_dataset().assign_attrs(obj=object())
    with pytest.raises(TypeError):
        vibmag.save(bad, tmp_path / "x.h5")
    assert list(tmp_path.iterdir()) == []


def test_a_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "r.h5"
    vibmag.save(results_dataset(), path, group="a")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", crash)
    with pytest.raises(KeyboardInterrupt):
        vibmag.save(results_dataset(), path, group="b")
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def write_foreign(path, counts, **attrs):
    with h5py.File(path, "w") as f:
        cam = f.create_group("cam0")
        cam["frames"] = counts
        for key, value in attrs.items():
            (cam if key != "root_fps" else f).attrs[key if key != "root_fps" else "fps"] = value
    return path


def test_foreign_hdf5_with_attributes(tmp_path):
    counts = np.random.default_rng(0).integers(0, 4096, size=(6, 5, 7)).astype(np.uint16)
    path = write_foreign(tmp_path / "f.h5", counts, fps=2000.0, bit_depth=12, pixel_size="0.1 mm")
    ds = vibmag.open_recording(path, dataset="/cam0/frames")
    np.testing.assert_array_equal(ds["frames"].values, (counts / 4095).astype(np.float32))
    assert ds.attrs["frame_rate"] == "2000 Hz" and ds.attrs["pixel_size"] == "0.1 mm"
    assert ds.attrs["dataset"] == "/cam0/frames" and dict(ds.sizes) == {"time": 6, "y": 5, "x": 7}


def test_foreign_hdf5_rate_from_root_or_user(tmp_path):
    counts = np.zeros((3, 4, 4), np.uint8)
    path = write_foreign(tmp_path / "f.h5", counts, root_fps=500)
    assert vibmag.open_recording(path, dataset="cam0/frames").attrs["frame_rate"] == "500 Hz"
    assert vibmag.open_recording(path, dataset="cam0/frames", frame_rate="1 kHz").attrs["frame_rate"] == "1000 Hz"


def test_foreign_hdf5_errors_name_the_problem(tmp_path):
    path = write_foreign(tmp_path / "f.h5", np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(RecordingError, match=r"pass dataset= .*candidates: /cam0/frames"):
        vibmag.open_recording(path)
    with pytest.raises(RecordingError, match="no frame-rate attribute"):
        vibmag.open_recording(path, dataset="/cam0/frames")
    with pytest.raises(RecordingError, match="no dataset '/cam1/frames'"):
        vibmag.open_recording(path, dataset="/cam1/frames", frame_rate="1 kHz")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(RecordingError, match="not an HDF5 file"):
        vibmag.open_recording(junk)
    with pytest.raises(RecordingError, match="not a file written by vibmag.save"):
        vibmag.load(path)
