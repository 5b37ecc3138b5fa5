"""Image-sequence reader: exact round trips of 8/16-bit PNG and TIFF, natural order, laziness, errors."""

import struct
import zlib

import dask.array as da
import numpy as np
import pytest
import tifffile
from PIL import Image

import vibmag.io.frames as frames_module
from vibmag.errors import RecordingError, RecordingNotFoundError
from vibmag.io.frames import natural_sort_key, read_frames


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def _write_tiffs(folder, images, name="frame{}.tif"):
    folder.mkdir(exist_ok=True)
    for i, image in enumerate(images):
        tifffile.imwrite(folder / name.format(i), image)
    return folder


def _write_pngs(folder, images, name="frame{}.png"):
    folder.mkdir(exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / name.format(i))
    return folder


def test_16bit_tiff_round_trip_is_exact(tmp_path, rng):
    images = rng.integers(0, 65536, size=(12, 6, 9), dtype=np.uint16)
    ds = read_frames(_write_tiffs(tmp_path / "run", images), frame_rate="2 kHz", pixel_size="0.05 mm")
    assert ds["frames"].dims == ("time", "y", "x")
    assert isinstance(ds["frames"].data, da.Array)
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 65535), images)
    np.testing.assert_allclose(np.diff(ds["time"].values), 0.5e-3)
    assert (ds.attrs["frame_rate"], ds.attrs["pixel_size"], ds.attrs["bit_depth"]) == ("2000 Hz", "0.05 mm", 16)
    assert (ds.attrs["first_file"], ds.attrs["last_file"], ds.attrs["n_files"]) == ("frame0.tif", "frame11.tif", 12)


def test_12bit_data_in_16bit_tiff(tmp_path, rng):
    images = rng.integers(0, 4096, size=(3, 4, 5), dtype=np.uint16)
    ds = read_frames(_write_tiffs(tmp_path / "run", images), frame_rate="1 kHz", bit_depth=12)
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 4095), images)
    assert ds.attrs["bit_depth"] == 12


def test_16bit_grey_png_round_trip_is_exact(tmp_path, rng):
    images = rng.integers(0, 65536, size=(4, 7, 5), dtype=np.uint16)
    ds = read_frames(_write_pngs(tmp_path / "run", images), frame_rate="100 Hz")
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 65535), images)


def test_8bit_colour_png_keeps_channels_and_drops_alpha(tmp_path, rng):
    images = rng.integers(0, 256, size=(3, 4, 6, 4), dtype=np.uint8)
    ds = read_frames(_write_pngs(tmp_path / "run", images), frame_rate="100 Hz")
    assert ds["frames"].dims == ("time", "y", "x", "channel")
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 255), images[..., :3])


def test_natural_sort_order(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    for i in (0, 1, 2, 9, 10, 11, 100):  # lexical order would put frame10 before frame2
        tifffile.imwrite(folder / f"Frame{i}.tif", np.full((2, 3), i, np.uint8))
    (folder / "notes.txt").write_text("not a frame")
    values = np.rint(read_frames(folder, frame_rate="1 Hz")["frames"].values[:, 0, 0] * 255)
    np.testing.assert_array_equal(values, [0, 1, 2, 9, 10, 11, 100])
    assert sorted(["f10", "F2", "f1"], key=natural_sort_key) == ["f1", "F2", "f10"]


def test_glob_selects_matching_files(tmp_path, rng):
    images = rng.integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    folder = _write_tiffs(tmp_path / "run", images)
    tifffile.imwrite(folder / "background.tif", np.zeros((9, 9), np.uint8))
    ds = read_frames(str(folder / "frame*.tif"), frame_rate="1 kHz")
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 255), images)


def test_reads_lazily_in_chunks(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(frames_module, "lazy_time_chunks", lambda shape, itemsize=4: 2)
    images = rng.integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    folder = _write_tiffs(tmp_path / "run", images)
    ds = read_frames(folder, frame_rate="1 kHz")
    assert ds["frames"].data.chunks[0] == (2, 2, 1)
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 255), images)
    # pixels are read only when used: a file replaced after opening is caught then
    tifffile.imwrite(folder / "frame4.tif", np.zeros((3, 5), np.uint8))
    with pytest.raises(RecordingError, match=r"frame4\.tif: frame is 3 x 5 uint8, expected 3 x 4 uint8"):
        ds["frames"].values  # noqa: B018


# ----------------------------------------------------------------------------- errors


def test_frame_rate_is_required(tmp_path, rng):
    folder = _write_tiffs(tmp_path / "run", rng.integers(0, 256, size=(2, 3, 4), dtype=np.uint8))
    with pytest.raises(RecordingError, match=r"image files store no capture rate; pass frame_rate="):
        read_frames(folder, frame_rate=None)


def test_mismatched_shape_names_the_file(tmp_path, rng):
    folder = _write_tiffs(tmp_path / "run", rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8))
    tifffile.imwrite(folder / "frame7.tif", np.zeros((4, 6), np.uint8))
    with pytest.raises(RecordingError, match=r"frame7\.tif: frame is 4 x 6 uint8, but frame0\.tif \(the first"):
        read_frames(folder, frame_rate="1 kHz")


def test_mismatched_pixel_type_names_the_file(tmp_path, rng):
    folder = _write_tiffs(tmp_path / "run", rng.integers(0, 256, size=(2, 4, 5), dtype=np.uint8))
    tifffile.imwrite(folder / "frame2.tif", np.zeros((4, 5), np.uint16))
    with pytest.raises(RecordingError, match=r"frame2\.tif: frame is 4 x 5 uint16"):
        read_frames(folder, frame_rate="1 kHz")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match=r"empty: the folder holds no \.png/\.tif/\.tiff files"):
        read_frames(tmp_path / "empty", frame_rate="1 kHz")


def test_glob_without_match(tmp_path):
    with pytest.raises(RecordingError, match=r"no \.png/\.tif/\.tiff files match this pattern"):
        read_frames(str(tmp_path / "frame_*.png"), frame_rate="1 kHz")


def test_missing_folder(tmp_path):
    with pytest.raises(RecordingNotFoundError, match=r"nowhere: no such folder or file"):
        read_frames(tmp_path / "nowhere", frame_rate="1 kHz")


def test_16bit_colour_png_is_refused(tmp_path):
    # Pillow reads 16-bit colour PNGs as 8 bit, so they are refused rather than truncated
    width, height = 2, 1
    raw = b"\x00" + np.arange(6, dtype=">u2").tobytes()  # one row, filter byte 0, RGB 16 bit

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    (tmp_path / "deep.png").write_bytes(png)
    with pytest.raises(RecordingError, match=r"deep\.png: 16-bit colour PNGs are not supported"):
        read_frames(tmp_path / "deep.png", frame_rate="1 kHz")


def test_multipage_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 4, 5), np.uint8), photometric="minisblack")
    with pytest.raises(RecordingError, match=r"stack\.tif: holds 3 pages; read_frames expects one frame per file"):
        read_frames(tmp_path / "stack.tif", frame_rate="1 kHz")


def test_corrupt_image_names_the_file(tmp_path, rng):
    folder = _write_tiffs(tmp_path / "run", rng.integers(0, 256, size=(2, 3, 4), dtype=np.uint8))
    (folder / "frame5.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(RecordingError, match=r"frame5\.tif: cannot read the image"):
        read_frames(folder, frame_rate="1 kHz")
