"""Photron .cih/.cihx + .mraw: checked against pyMRAW and against files with known counts."""

import json

import numpy as np
import pyMRAW
import pytest

import vibmag
from vibmag import sample_data
from vibmag.errors import RecordingError, RecordingNotFoundError
from vibmag.errors import OverwriteError
from vibmag.io.photron import pack_12bit, read_photron_header, unpack_12bit, write_photron

SAMPLES = {
    # name: (frames, height, width, capture rate Hz, bit depth)
    "showcase_beams": (75, 40, 640, 150.0, 8),
    "speckle_beam": (4, 80, 1024, 20.0, 12),
    "ball": (15, 384, 384, 30000.0, 12),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_shipped_recordings_match_pymraw(name):
    n_frames, height, width, rate, bits = SAMPLES[name]
    ds = vibmag.open_recording(sample_data.path(name))
    assert dict(ds.sizes) == {"time": n_frames, "y": height, "x": width}
    assert ds["frames"].dtype == np.float32 and ds["frames"].attrs["units"] == "1"
    assert ds.attrs["bit_depth"] == bits
    assert vibmag.frame_rate_hz(ds) == rate
    np.testing.assert_allclose(ds["time"].values, np.arange(n_frames) / rate, rtol=1e-12)
    assert ds["time"].attrs["units"] == "s" and ds["x"].attrs["units"] == "px"
    reference, _ = pyMRAW.load_video(str(sample_data.path(name)))
    np.testing.assert_array_equal(np.rint(ds["frames"].values * (2**bits - 1)), reference)


def test_save_step_sets_the_time_axis():
    ds = vibmag.open_recording(sample_data.path("showcase_beams"))
    assert ds.attrs["record_rate"] == "15000.0 Hz" and ds.attrs["save_step"] == 100
    assert ds["time"].values[1] == pytest.approx(100 / 15000)
    assert json.loads(ds.attrs["header"])["Camera Type"].startswith("FASTCAM")


def test_frame_rate_and_pixel_size_override():
    ds = vibmag.open_recording(sample_data.path("showcase_beams"), frame_rate="15 kHz", pixel_size="50 um")
    assert ds.attrs["frame_rate"] == "15000 Hz" and ds.attrs["pixel_size"] == "0.05 mm"
    assert ds["time"].values[-1] == pytest.approx(74 / 15000)


def test_opening_the_mraw_finds_the_header():
    mraw = sample_data.path("ball").with_suffix(".mraw")
    ds = vibmag.open_recording(mraw)
    assert ds.sizes["time"] == 15 and ds.attrs["source"].endswith(".cihx")


def test_frames_are_lazy():
    ds = vibmag.open_recording(sample_data.path("ball"))
    assert ds["frames"].chunks is not None


@pytest.mark.parametrize(
    ("bits", "side", "effective", "scale"),
    [(8, "Lower", 8, 255), (16, "Lower", 12, 4095), (16, "Higher", 12, 4095), (16, "Lower", 16, 65535), (12, "Lower", 12, 4095)],
)
def test_known_counts_scale_by_the_sensor_bit_depth(photron_writer, bits, side, effective, scale):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, scale + 1, size=(5, 6, 8))
    counts[0, 0, :2] = [0, scale]
    ds = vibmag.open_recording(photron_writer(counts, bits=bits, side=side, effective=effective))
    np.testing.assert_array_equal(ds["frames"].values, (counts / scale).astype(np.float32))
    assert ds.attrs["bit_depth"] == effective


def test_colour_recording(photron_writer):
    counts = np.random.default_rng(1).integers(0, 256, size=(3, 4, 6, 3))
    ds = vibmag.open_recording(photron_writer(counts, bits=24))
    assert ds["frames"].dims == ("time", "y", "x", "channel")
    np.testing.assert_array_equal(ds["frames"].values, (counts / 255).astype(np.float32))


def test_unpack_12bit_inverts_packing():
    counts = np.arange(4096, dtype=np.uint16).reshape(2, -1)
    packed = np.frombuffer(pack_12bit(counts), np.uint8).reshape(2, -1)
    np.testing.assert_array_equal(unpack_12bit(packed), counts)


def test_missing_mraw(photron_writer):
    header = photron_writer(np.zeros((2, 4, 4)), bits=8)
    header.with_suffix(".mraw").unlink()
    with pytest.raises(RecordingNotFoundError, match=r"no \.mraw file beside the header"):
        vibmag.open_recording(header)


def test_truncated_mraw_says_how_many_frames_fit(photron_writer):
    header = photron_writer(np.zeros((4, 4, 4)), bits=8)
    mraw = header.with_suffix(".mraw")
    mraw.write_bytes(mraw.read_bytes()[:40])
    with pytest.raises(RecordingError, match=r"truncated: 40 bytes hold 2 whole frames, the header promises 4 frames"):
        vibmag.open_recording(header)


def test_header_that_disagrees_with_file_size(photron_writer):
    header = photron_writer(np.zeros((4, 4, 4)), bits=8)
    with open(header.with_suffix(".mraw"), "ab") as f:
        f.write(b"\0" * 16)
    with pytest.raises(RecordingError, match="header disagrees with the file size"):
        vibmag.open_recording(header)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Color Bit : 8", "Color Bit : 10", "unsupported bit depth 10"),
        ("EffectiveBit Depth : 8", "EffectiveBit Depth : 40", "unknown effective bit depth 40"),
        ("Record Rate(fps) : 1000", "Record Rate(fps) : fast", "'Record Rate\\(fps\\)' = 'fast' is not a number"),
        ("Image Width : 4", "", "'Image Width' is missing"),
        ("Total Frame : 2", "Total Frame : 0", "empty recording"),
    ],
)
def test_bad_headers_name_the_field(photron_writer, field, value, message):
    header = photron_writer(np.zeros((2, 4, 4)), bits=8)
    header.write_text(header.read_text().replace(field, value))
    with pytest.raises(RecordingError, match=message):
        read_photron_header(header)


def test_not_a_header(tmp_path):
    bogus = tmp_path / "x.cih"
    bogus.write_text("hello")
    (tmp_path / "x.mraw").write_bytes(b"")
    with pytest.raises(RecordingError, match="not a Photron .cih header"):
        vibmag.open_recording(bogus)
    bogus_x = tmp_path / "y.cihx"
    bogus_x.write_bytes(b"<?xml version='1.0'?><cih><oops></cih>")
    with pytest.raises(RecordingError, match="corrupt .cihx header"):
        read_photron_header(bogus_x)


def test_write_photron_round_trip_and_refuses_overwrite(tmp_path):
    counts = np.random.default_rng(2).integers(0, 4096, size=(3, 4, 6))
    header = write_photron(tmp_path / "out.cih", counts, record_rate=20000, bits=12, save_step=4)
    ds = vibmag.open_recording(header)
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 4095), counts)
    assert ds.attrs["frame_rate"] == "5000 Hz"
    with pytest.raises(OverwriteError, match="exists"):
        write_photron(header, counts, record_rate=20000, bits=12)
