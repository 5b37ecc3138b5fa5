"""open_recording on arrays, .npy and bad input; the recording layout itself."""

import dask.array as da
import numpy as np
import pytest

import vibmag
from vibmag.errors import RecordingError, RecordingNotFoundError, UnitError


def test_uint8_array_becomes_float_intensities():
    counts = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    ds = vibmag.open_recording(counts, frame_rate="2 kHz", pixel_size="50 um")
    assert ds["frames"].dims == ("time", "y", "x")
    np.testing.assert_array_equal(ds["frames"].values, (counts / 255).astype(np.float32))
    assert ds.attrs["frame_rate"] == "2000 Hz" and ds.attrs["pixel_size"] == "0.05 mm"
    np.testing.assert_array_equal(ds["time"].values, [0.0, 0.0005])
    assert vibmag.pixel_size_mm(ds) == 0.05


def test_uint16_array_with_bit_depth():
    counts = np.array([[[0, 4095]]], dtype=np.uint16)
    ds = vibmag.open_recording(counts, frame_rate="1 Hz", bit_depth=12)
    np.testing.assert_array_equal(ds["frames"].values, [[[0.0, 1.0]]])
    with pytest.raises(RecordingError, match="bit depth 17 does not fit uint16"):
        vibmag.open_recording(counts, frame_rate="1 Hz", bit_depth=17)


def test_float_arrays_are_intensities_and_colour_keeps_channels():
    frames = np.random.default_rng(0).random((3, 4, 5, 3))
    ds = vibmag.open_recording(frames, frame_rate="30 Hz")
    assert ds["frames"].dims == ("time", "y", "x", "channel") and ds["frames"].dtype == np.float32
    np.testing.assert_array_equal(ds["frames"].values, frames.astype(np.float32))


def test_dask_arrays_stay_lazy():
    lazy = da.zeros((100, 8, 8), chunks=(10, 8, 8), dtype=np.uint8)
    ds = vibmag.open_recording(lazy, frame_rate="1 kHz")
    assert isinstance(ds["frames"].data, da.Array)


def test_npy_is_memory_mapped(tmp_path):
    counts = np.random.default_rng(0).integers(0, 256, (5, 4, 6), dtype=np.uint8)
    np.save(tmp_path / "f.npy", counts)
    ds = vibmag.open_recording(tmp_path / "f.npy", frame_rate="100 Hz")
    assert isinstance(ds["frames"].data, da.Array)
    np.testing.assert_array_equal(ds["frames"].values, (counts / 255).astype(np.float32))


@pytest.mark.parametrize(
    ("frames", "kwargs", "error", "message"),
    [
        (np.zeros((4, 4, 4)), {}, RecordingError, "stores no capture rate; pass frame_rate="),
        (np.zeros((4, 4, 4)), {"frame_rate": "20 mm"}, UnitError, "is not a frequency"),
        (np.zeros((4, 4, 4)), {"frame_rate": "-5 Hz"}, RecordingError, "frame rate must be positive"),
        (np.zeros((4, 4)), {"frame_rate": "1 Hz"}, RecordingError, r"shaped \(time, y, x\).*got shape \(4, 4\)"),
        (np.zeros((0, 4, 4)), {"frame_rate": "1 Hz"}, RecordingError, "empty"),
        (np.zeros((2, 4, 4, 7)), {"frame_rate": "1 Hz"}, RecordingError, "1 to 4 channels, got 7"),
        (np.full((2, 2, 2), np.nan), {"frame_rate": "1 Hz"}, RecordingError, "8 NaN or infinite values"),
        (np.zeros((2, 2, 2), complex), {"frame_rate": "1 Hz"}, RecordingError, "unsupported pixel type complex128"),
        (np.zeros((2, 2, 2), np.uint8), {"frame_rate": "1 Hz", "pixel_size": "3 Hz"}, UnitError, "is not a length"),
    ],
)
def test_bad_arrays_get_clear_errors(frames, kwargs, error, message):
    with pytest.raises(error, match=message):
        vibmag.open_recording(frames, **kwargs)


def test_bad_paths(tmp_path):
    with pytest.raises(RecordingNotFoundError, match="no such file"):
        vibmag.open_recording(tmp_path / "missing.cih")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(RecordingError, match=r"unknown recording format '\.txt'"):
        vibmag.open_recording(tmp_path / "notes.txt")
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    with pytest.raises(RecordingError, match="not a readable .npy array"):
        vibmag.open_recording(tmp_path / "bad.npy", frame_rate="1 Hz")
    np.save(tmp_path / "flat.npy", np.zeros(5))
    with pytest.raises(RecordingError, match="got shape"):
        vibmag.open_recording(tmp_path / "flat.npy", frame_rate="1 Hz")


def test_iter_frame_chunks_covers_every_frame_once():
    counts = np.arange(10 * 2 * 2, dtype=np.uint8).reshape(10, 2, 2)
    ds = vibmag.open_recording(da.from_array(counts, chunks=(3, 2, 2)), frame_rate="1 Hz")
    pieces = list(vibmag.iter_frame_chunks(ds, 4))
    assert [p[0] for p in pieces] == [slice(0, 4), slice(4, 8), slice(8, 10)]
    np.testing.assert_array_equal(np.concatenate([p[1] for p in pieces]), ds["frames"].values)


def test_frame_rate_from_time_coordinate():
    ds = vibmag.open_recording(np.zeros((5, 2, 2)), frame_rate="250 Hz")
    assert vibmag.frame_rate_hz(ds["frames"]) == pytest.approx(250.0)
    assert vibmag.frame_rate_hz(ds) == 250.0


@pytest.mark.parametrize("index", [3, slice(2, 7), slice(None, None, 3), (slice(1, 4), 2), (slice(None), slice(1, 3), 0), np.array([5, 1, 1])])
def test_file_array_reads_like_numpy(tmp_path, index):
    from vibmag.io.lazy import FileArray

    data = np.arange(8 * 3 * 4, dtype="<u2").reshape(8, 3, 4)
    (tmp_path / "raw").write_bytes(b"\0" * 10 + data.tobytes())
    np.testing.assert_array_equal(FileArray(tmp_path / "raw", "<u2", data.shape, offset=10)[index], data[index])


def test_file_array_pickles_as_its_path(tmp_path):
    import pickle

    from vibmag.io.lazy import FileArray

    (tmp_path / "raw").write_bytes(bytes(range(24)))
    array = pickle.loads(pickle.dumps(FileArray(tmp_path / "raw", np.uint8, (4, 6))))
    assert len(pickle.dumps(array)) < 400
    np.testing.assert_array_equal(array[1:3], np.arange(6, 18).reshape(2, 6))
