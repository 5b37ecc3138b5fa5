"""Phantom .cine reader: the shared sample against FFmpeg's independent decoder, synthetic files
with known pixels for every pixel format, and every error case."""

import struct
import subprocess
from pathlib import Path

import dask.array as da
import imageio_ffmpeg
import numpy as np
import pytest

from vibmag.errors import RecordingError, RecordingNotFoundError
from vibmag.io.cine import p10_to_linear, read_cine, read_cine_header

SAMPLE = Path(__file__).parents[2] / "vibmag" / "sample_data" / "pyidi" / "data_small_cine.cine"
SETUP_LENGTH = 5744  # long enough to hold BlackLevel and WhiteLevel


# ----------------------------------------------------------------------------- a small cine writer


def _pack_10bit(codes: np.ndarray) -> bytes:
    """4 codes per 5 bytes, most significant bits first (the P10 layout)."""
    c = codes.astype(np.uint32).reshape(-1, 4)
    out = np.stack(
        [c[:, 0] >> 2, ((c[:, 0] & 3) << 6) | (c[:, 1] >> 4), ((c[:, 1] & 15) << 4) | (c[:, 2] >> 6),
         ((c[:, 2] & 63) << 2) | (c[:, 3] >> 8), c[:, 3] & 255],
        axis=1,
    )  # fmt: skip
    return out.astype(np.uint8).tobytes()


def _pack_12bit(values: np.ndarray) -> bytes:
    """2 values per 3 bytes, most significant bits first (the P12L layout)."""
    v = values.astype(np.uint32).reshape(-1, 2)
    out = np.stack([v[:, 0] >> 4, ((v[:, 0] & 15) << 4) | (v[:, 1] >> 8), v[:, 1] & 255], axis=1)
    return out.astype(np.uint8).tobytes()


def write_cine(
    path, images, *, bit_count=16, compression=0, frame_rate=1000, real_bpp=12, flip_v=0,
    stored_bottom_up=True, negative_height=False, magic=b"CI", header_compression=0, pack=None,
):  # fmt: skip
    """Write a minimal cine file holding ``images`` (n, y, x[, 3]), given top-down and RGB."""
    n, height, width = images.shape[:3]
    rows = images[:, ::-1] if stored_bottom_up else images
    if images.ndim == 4:
        rows = rows[..., ::-1]  # RGB -> BGR
    dtype = "<u1" if bit_count in (8, 24) else "<u2"
    blobs = [pack(image.ravel()) if pack else np.ascontiguousarray(image, dtype=dtype).tobytes() for image in rows]
    setup = bytearray(SETUP_LENGTH)
    struct.pack_into("<H", setup, 0, frame_rate % 65536)
    struct.pack_into("<2sH", setup, 140, b"ST", SETUP_LENGTH)
    struct.pack_into("<i", setup, 760, flip_v)
    struct.pack_into("<I", setup, 768, frame_rate)
    struct.pack_into("<I", setup, 896, real_bpp)
    struct.pack_into("<I", setup, 1568, 50_000)
    struct.pack_into("<ii", setup, 5732, 64, 1015)
    off_setup = 44 + 40
    off_offsets = off_setup + SETUP_LENGTH
    first_image = off_offsets + 8 * n
    offsets = [first_image + i * (8 + len(blobs[0])) for i in range(n)]
    counts = (-5, n + 5, 0, n)  # FirstMovieImage, TotalImageCount, FirstImageNo, ImageCount
    header = struct.pack(
        "<2sHHHiIiIIIIII", magic, 44, header_compression, 1, *counts, 44, off_setup, off_offsets, 0, 1_700_000_000
    )
    bi_height = -height if negative_height else height
    bitmap = struct.pack("<IiiHHIIiiII", 40, width, bi_height, 1, bit_count, compression, len(blobs[0]), 0, 0, 0, 0)
    images_bytes = b"".join(struct.pack("<II", 8, len(blob)) + blob for blob in blobs)
    Path(path).write_bytes(header + bitmap + bytes(setup) + struct.pack(f"<{n}q", *offsets) + images_bytes)
    return Path(path)


# ----------------------------------------------------------------------------- the shared sample


def test_sample_header_and_layout():
    ds = read_cine(SAMPLE)
    assert ds["frames"].dims == ("time", "y", "x")
    assert ds["frames"].shape == (235, 32, 256)
    assert isinstance(ds["frames"].data, da.Array)
    assert ds.attrs["frame_rate"] == "100 Hz"
    assert ds.attrs["frame_rate_source"] == "header"
    assert ds.attrs["bit_depth"] == 12  # P10 codes linearised to 12 bit
    assert ds.attrs["real_bpp"] == 10
    assert ds.attrs["pixel_format"].startswith("P10")
    assert (ds.attrs["black_level"], ds.attrs["white_level"]) == (64, 1015)
    assert (ds.attrs["image_count"], ds.attrs["total_image_count"], ds.attrs["first_movie_image"]) == (235, 376, -141)
    assert ds.attrs["exposure_time"] == "7e-05 s"
    np.testing.assert_allclose(np.diff(ds["time"].values), 0.01)


def test_sample_pixels_match_ffmpegs_decoder():
    """FFmpeg's cine demuxer is an independent P10 unpacker (it left-justifies codes in 16 bit)."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(SAMPLE)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "gray16le", "-"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    codes = (np.frombuffer(raw, "<u2").reshape(235, 32, 256) >> 6).astype(np.int64)
    expected = p10_to_linear(codes, white_code=1015) / np.float32(4095)
    np.testing.assert_array_equal(read_cine(SAMPLE)["frames"].values, expected.astype(np.float32))


def test_sample_looks_like_an_image():
    frames = read_cine(SAMPLE)["frames"].values
    frame = frames[0].astype(float)
    down = np.corrcoef(frame[:-1].ravel(), frame[1:].ravel())[0, 1]
    across = np.corrcoef(frame[:, :-1].ravel(), frame[:, 1:].ravel())[0, 1]
    assert down > 0.5 and across > 0.9  # random bytes would give ~0
    assert 0.05 < frames.mean() < 0.6 and frames.max() <= 1
    assert 0 < np.abs(frames[1:] - frames[:-1]).mean() < 0.05  # a vibrating scene, not noise


def test_frame_rate_override_is_recorded():
    ds = read_cine(SAMPLE, frame_rate="20 kHz", pixel_size="0.1 mm")
    assert ds.attrs["frame_rate"] == "20000 Hz"
    assert ds.attrs["frame_rate_source"] == "user"
    assert ds.attrs["pixel_size"] == "0.1 mm"


def test_p10_linearisation_matches_vendor_table_anchors():
    # entries of Vision Research's 10-bit linearisation table (LinLUT)
    vendor = {1: 5, 64: 64, 150: 145, 300: 374, 500: 952, 700: 1872, 900: 3159, 1014: 4064}
    ours = p10_to_linear(np.array(list(vendor)))
    np.testing.assert_allclose(ours, list(vendor.values()), atol=1)
    table = p10_to_linear(np.arange(1024))
    assert np.all(np.diff(table.astype(int)) >= 0)
    assert np.all(p10_to_linear(np.arange(1015, 1024), white_code=1015) == 4095)


# ----------------------------------------------------------------------------- synthetic files


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_16bit_bottom_up_round_trip(tmp_path, rng):
    images = rng.integers(0, 4096, size=(5, 6, 8), dtype=np.uint16)
    ds = read_cine(write_cine(tmp_path / "a.cine", images, frame_rate=25000, real_bpp=12))
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 4095), images)
    assert ds.attrs["frame_rate"] == "25000 Hz" and ds.attrs["bit_depth"] == 12


@pytest.mark.parametrize(
    ("layout", "expected_order"),
    [({"flip_v": 1, "stored_bottom_up": False}, "bFlipV inverts"),
     ({"negative_height": True, "stored_bottom_up": False}, "negative biHeight: top-down")],
)  # fmt: skip
def test_8bit_top_down_layouts(tmp_path, rng, layout, expected_order):
    images = rng.integers(0, 256, size=(3, 5, 8), dtype=np.uint8)
    path = write_cine(tmp_path / "b.cine", images, bit_count=8, real_bpp=8, **layout)
    np.testing.assert_array_equal(np.rint(read_cine(path)["frames"].values * 255), images, err_msg=expected_order)


def test_colour_bgr24_becomes_rgb(tmp_path, rng):
    images = rng.integers(0, 256, size=(2, 4, 8, 3), dtype=np.uint8)
    ds = read_cine(write_cine(tmp_path / "c.cine", images, bit_count=24, real_bpp=8))
    assert ds["frames"].dims == ("time", "y", "x", "channel")
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 255), images)


def test_p12l_round_trip(tmp_path, rng):
    images = rng.integers(0, 4096, size=(4, 3, 8), dtype=np.uint16)
    path = write_cine(tmp_path / "d.cine", images, compression=1024, stored_bottom_up=False, pack=_pack_12bit)
    ds = read_cine(path)
    assert ds.attrs["pixel_format"].startswith("P12L")
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 4095), images)


def test_p10_round_trip_through_linearisation(tmp_path, rng):
    codes = rng.integers(0, 1015, size=(3, 4, 8), dtype=np.uint16)
    path = write_cine(
        tmp_path / "e.cine", codes, compression=256, stored_bottom_up=False, real_bpp=10, pack=_pack_10bit
    )
    frames = read_cine(path)["frames"].values
    np.testing.assert_array_equal(np.rint(frames * 4095), p10_to_linear(codes))


def test_chunks_read_the_right_images(tmp_path, rng, monkeypatch):
    import vibmag.io.cine as cine

    monkeypatch.setattr(cine, "lazy_time_chunks", lambda shape, itemsize=4: 3)
    images = rng.integers(0, 65536, size=(8, 4, 8), dtype=np.uint16)
    ds = read_cine(write_cine(tmp_path / "f.cine", images, real_bpp=16))
    assert ds["frames"].data.chunks[0] == (3, 3, 2)
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 65535), images)


# ----------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(RecordingNotFoundError, match=r"nope\.cine: no such file"):
        read_cine(tmp_path / "nope.cine")


def test_wrong_magic(tmp_path):
    path = tmp_path / "bad.cine"
    path.write_bytes(b"XX" + SAMPLE.read_bytes()[2:2000])
    with pytest.raises(RecordingError, match=r"bad\.cine: not a Phantom cine file"):
        read_cine(path)


@pytest.mark.parametrize(
    ("keep", "message"),
    [(30, r"truncated: the cine file header"), (13000, r"truncated: the offsets of 235 images"),
     (-100, r"truncated: the pixels of image 234 of 235")],
)  # fmt: skip
def test_truncated_file(tmp_path, keep, message):
    path = tmp_path / "cut.cine"
    data = SAMPLE.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(RecordingError, match=rf"cut\.cine: {message}"):
        read_cine_header(path)


def test_unsupported_jpeg_cine(tmp_path):
    path = write_cine(tmp_path / "j.cine", np.zeros((1, 2, 4), np.uint16), header_compression=1)
    with pytest.raises(RecordingError, match=r"j\.cine: JPEG-compressed cines are not supported"):
        read_cine(path)


def test_missing_frame_rate_asks_for_one(tmp_path):
    path = write_cine(tmp_path / "r.cine", np.zeros((2, 2, 4), np.uint16), frame_rate=0)
    with pytest.raises(RecordingError, match=r"states no frame rate; pass frame_rate="):
        read_cine(path)
    assert read_cine(path, frame_rate="5 kHz").attrs["frame_rate"] == "5000 Hz"
