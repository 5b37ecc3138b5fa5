"""Video reading and writing: round trips within stated codec tolerances (exact for GIF), the
layout of side-by-side output, playback rates stored in the files, atomic writes, every error."""

import subprocess

import dask.array as da
import imageio_ffmpeg
import numpy as np
import pytest
import xarray as xr
from PIL import Image, ImageSequence

import vibmag.io.video as video
from vibmag.errors import OverwriteError, RecordingError, RecordingNotFoundError
from vibmag.io.video import CONTAINER_RATE_SOURCE, probe_video, read_video
from vibmag.io.video_write import write_video
from vibmag.recording import make_recording

#: Mean absolute error allowed for smooth grey content through H.264 at the default quality
#: (CRF 10) and yuv420p's limited-range luma: 2 counts of 255.
CODEC_MAE = 2 / 255


def moving_pattern(n=12, height=32, width=48, *, shift=1.5):
    """Smooth grey sinusoidal pattern moving ``shift`` px right per frame, float32 in [0.15, 0.85]."""
    y, x = np.mgrid[0:height, 0:width]
    frames = [0.5 + 0.35 * np.sin(2 * np.pi * (x - shift * k) / 24) * np.cos(2 * np.pi * y / 32) for k in range(n)]
    return np.stack(frames).astype(np.float32)


def gif_frames(path):
    with Image.open(path) as image:
        return np.stack([np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(image)])


def no_leftovers(folder):
    return not [p.name for p in folder.iterdir() if ".partial" in p.name]


# ----------------------------------------------------------------------------- reading and round trips


def test_mp4_round_trip_within_codec_tolerance(tmp_path):
    frames = moving_pattern()
    path = write_video(frames, tmp_path / "wave.mp4", fps=24)
    ds = read_video(path)
    assert ds["frames"].dims == ("time", "y", "x")  # grey video -> mono
    assert ds["frames"].shape == frames.shape
    assert np.abs(ds["frames"].values - frames).mean() < CODEC_MAE
    assert ds.attrs["frame_rate"] == "24 Hz"
    assert ds.attrs["frame_rate_source"] == CONTAINER_RATE_SOURCE
    assert ds.attrs["bit_depth"] == 8 and ds.attrs["codec"] == "h264"


def test_capture_rate_given_by_user(tmp_path):
    path = write_video(moving_pattern(n=4), tmp_path / "a.mp4", fps=24)
    ds = read_video(path, frame_rate="15 kHz", pixel_size="0.02 mm")
    assert (ds.attrs["frame_rate"], ds.attrs["frame_rate_source"]) == ("15000 Hz", "user")
    assert ds.attrs["container_frame_rate"] == "24 Hz"
    np.testing.assert_allclose(np.diff(ds["time"].values), 1 / 15000)


def test_colour_video_keeps_three_channels(tmp_path):
    grey = moving_pattern(n=6)
    frames = np.stack([grey, 0.8 * grey, 0.5 * grey], axis=-1)  # a warm tint
    ds = read_video(write_video(frames, tmp_path / "rgb.mp4", fps=10))
    assert ds["frames"].dims == ("time", "y", "x", "channel")
    # 8-bit limited-range YUV quantises colours to ~2-3 counts, and yuv420p halves chroma resolution
    assert np.abs(ds["frames"].values - frames).mean() < 3 / 255
    red, green, blue = ds["frames"].mean(dim=("time", "y", "x")).values
    assert red > green > blue


def test_odd_sizes_are_padded_to_even(tmp_path):
    frames = moving_pattern(n=5, height=31, width=45)
    ds = read_video(write_video(frames, tmp_path / "odd.mp4", fps=10))
    assert ds["frames"].shape == (5, 32, 46)
    assert np.abs(ds["frames"].values[:, :31, :45] - frames).mean() < CODEC_MAE


def test_gif_round_trip_is_exact_for_8bit_grey(tmp_path):
    frames = (moving_pattern(n=8) * 255).round().astype(np.uint8)
    path = write_video(frames, tmp_path / "wave.gif", fps=20)
    np.testing.assert_array_equal(gif_frames(path), frames)
    with Image.open(path) as image:
        assert image.info["duration"] == 50  # ms per frame: 20 fps
    ds = read_video(path)
    np.testing.assert_array_equal(np.rint(ds["frames"].values * 255), frames)


def test_floats_are_clipped_and_rounded_to_8_bit(tmp_path):
    values = np.array([-0.2, 0.0, 0.2, 0.5, 0.502, 127.4 / 255, 1.0, 1.7], np.float32)
    frames = np.broadcast_to(values, (2, 4, 8)).copy()
    frames[1] = frames[1, :, ::-1]  # consecutive GIF frames must differ
    written = gif_frames(write_video(frames, tmp_path / "levels.gif", fps=10))
    np.testing.assert_array_equal(written[0, 0], [0, 0, 51, 128, 128, 127, 255, 255])


def test_lazy_chunks_decode_the_same_frames(tmp_path, monkeypatch):
    frames = np.zeros((23, 16, 24), np.uint8)
    for k in range(23):  # every frame distinct: a bright column at x = k and a grey level
        frames[k] = 20 + 9 * k
        frames[k, :, k] = 255
    path = write_video(frames, tmp_path / "index.mp4", fps=30)
    eager = read_video(path)["frames"].values
    monkeypatch.setattr(video, "lazy_time_chunks", lambda shape, itemsize=4: 5)
    lazy = read_video(path)["frames"]
    assert isinstance(lazy.data, da.Array) and lazy.data.chunks[0] == (5, 5, 5, 5, 3)
    np.testing.assert_array_equal(lazy.values, eager)
    np.testing.assert_array_equal(np.argmax(eager[:, 8, :23], axis=1), np.arange(23))  # frames in order


# ----------------------------------------------------------------------------- writing


def test_side_by_side_layout(tmp_path):
    left = (moving_pattern(n=4, height=20, width=30) * 255).round().astype(np.uint8)
    right = 255 - left
    written = gif_frames(write_video(left, tmp_path / "pair.gif", fps=10, side_by_side=right, gap=6))
    assert written.shape == (4, 20, 2 * 30 + 6)
    np.testing.assert_array_equal(written[:, :, :30], left)
    np.testing.assert_array_equal(written[:, :, 36:], right)
    assert not written[:, :, 30:36].any()  # black gap


def test_vertical_stack_with_zoom_repeats_pixels_under_each_band(tmp_path):
    top = (moving_pattern(n=3, height=10, width=40) * 255).round().astype(np.uint8)
    bottom = 255 - top
    path = write_video(top, tmp_path / "stack.gif", fps=10, side_by_side=bottom, labels=("original", "magnified"),
                       stack="vertical", zoom=2, gap=4)
    written = gif_frames(path)
    rows = written.shape[1]
    band = (rows - 4 - 2 * 20) // 2
    assert written.shape == (3, 2 * (band + 20) + 4, 80) and band > 5
    zoomed = top.repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_array_equal(written[:, band : band + 20], zoomed)
    np.testing.assert_array_equal(written[:, 2 * band + 24 :], 255 - zoomed)
    assert not written[:, band + 20 : band + 24].any()  # black gap
    assert written[0, :band].max() > 128 and written[0, band + 24 : 2 * band + 24].max() > 128  # a label in each band


def test_labels_go_in_a_band_above_the_panels(tmp_path):
    left = (moving_pattern(n=3, height=24, width=64) * 255).round().astype(np.uint8)
    path = write_video(left, tmp_path / "labels.gif", fps=10, side_by_side=left, labels=("original", "magnified x20"))
    written = gif_frames(path)
    band = written.shape[1] - 24
    assert written.shape[2] == 2 * 64 + 8 and band > 5
    np.testing.assert_array_equal(written[:, band:, :64], left)
    np.testing.assert_array_equal(written[:, band:, 72:], left)
    assert written[0, :band, :64].max() > 128 and written[0, :band, 72:].max() > 128  # text in each panel's band


def test_timestamp_shows_each_frames_time(tmp_path):
    still = np.full((3, 16, 64), 0.5, np.float32)
    ds = make_recording(still, frame_rate="15 kHz")
    written = gif_frames(write_video(ds, tmp_path / "time.gif", fps=10, timestamp=True))
    band = written.shape[1] - 16
    assert band > 5
    assert not np.array_equal(written[0, :band], written[1, :band])  # the text changes with time
    np.testing.assert_array_equal(written[:, band:], np.full((3, 16, 64), 128))  # the frames do not


def test_fps_stored_in_mp4_is_the_requested_one(tmp_path):
    path = write_video(moving_pattern(n=4), tmp_path / "slow.mp4", fps="12.5 Hz")
    assert probe_video(path).fps == 12.5


def test_default_fps_plays_fast_recordings_slowly(tmp_path):
    fast = make_recording(moving_pattern(n=4), frame_rate="15 kHz")
    assert probe_video(write_video(fast, tmp_path / "fast.mp4")).fps == 30
    slow = make_recording(moving_pattern(n=4), frame_rate="10 Hz")
    assert probe_video(write_video(slow, tmp_path / "slow.mp4")).fps == 10


def test_lazy_recording_streams_in_chunks(tmp_path):
    frames = moving_pattern(n=10)
    ds = make_recording(da.from_array(frames, chunks=(3, -1, -1)), frame_rate="1 kHz")
    path = write_video(ds, tmp_path / "lazy.gif", fps=10, chunk_frames=4)
    np.testing.assert_array_equal(gif_frames(path), np.rint(frames * 255))


def test_dataarray_input(tmp_path):
    frames = xr.DataArray(moving_pattern(n=3), dims=("time", "y", "x"))
    path = write_video(frames, tmp_path / "da.gif", fps=10)
    assert gif_frames(path).shape == (3, 32, 48)


# ----------------------------------------------------------------------------- overwriting and failures


def test_refuses_to_overwrite_unless_asked(tmp_path):
    path = write_video(moving_pattern(n=2), tmp_path / "out.gif", fps=10)
    with pytest.raises(OverwriteError, match=r"out\.gif: already exists; pass overwrite=True"):
        write_video(moving_pattern(n=3), path, fps=10)
    assert gif_frames(path).shape[0] == 2
    write_video(moving_pattern(n=3), path, fps=10, overwrite=True)
    assert gif_frames(path).shape[0] == 3


def test_never_overwrites_the_source_recording(tmp_path):
    path = write_video(moving_pattern(n=3), tmp_path / "source.mp4", fps=10)
    ds = read_video(path)
    with pytest.raises(OverwriteError, match=r"source\.mp4: is the source recording"):
        write_video(ds, path, overwrite=True)
    with pytest.raises(OverwriteError, match=r"source\.mp4: is the source recording"):
        write_video(moving_pattern(n=3), path, side_by_side=ds, overwrite=True)


def test_failure_leaves_no_partial_output(tmp_path):
    frames = moving_pattern(n=6)
    frames[5, 0, 0] = np.nan  # found only when the second chunk is converted
    with pytest.raises(ValueError, match=r"NaN or infinite"):
        write_video(frames, tmp_path / "broken.mp4", fps=10, chunk_frames=4)
    assert list(tmp_path.iterdir()) == []
    path = write_video(moving_pattern(n=2), tmp_path / "keep.mp4", fps=10)
    with pytest.raises(ValueError, match=r"NaN or infinite"):
        write_video(frames, path, fps=10, overwrite=True, chunk_frames=4)
    assert probe_video(path).n_frames == 2 and no_leftovers(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"path_name": "out.avi"}, r"writes \.mp4 or \.gif files, not '\.avi'"),
     ({"side_by_side": np.zeros((2, 8, 8))}, r"side_by_side frames must match \(time, y, x\) = \(2, 8, 9\)"),
     ({"labels": ("only one", "two")}, r"labels needs one text per panel \(1\), got 2"),
     ({"timestamp": True}, r"timestamp=True needs a recording"),
     ({"stack": "diagonal"}, r"stack must be 'horizontal' or 'vertical', got 'diagonal'"),
     ({"zoom": 0}, r"zoom must be a positive integer, got 0"),
     ({"fps": 60, "path_name": "fast.gif"}, r"GIF players show at most 50 fps"),
     ({"frames": np.zeros((2, 8, 9), np.int32)}, r"floats in \[0, 1\] or uint8 counts, got dtype int32")],
)  # fmt: skip
def test_write_argument_errors(tmp_path, kwargs, message):
    kwargs = dict(kwargs)
    frames = kwargs.pop("frames", np.zeros((2, 8, 9), np.float32))
    path = tmp_path / kwargs.pop("path_name", "out.mp4")
    with pytest.raises(ValueError, match=message):
        write_video(frames, path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_missing_video(tmp_path):
    with pytest.raises(RecordingNotFoundError, match=r"nope\.mp4: no such file"):
        read_video(tmp_path / "nope.mp4")


def test_text_file_renamed_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    with pytest.raises(RecordingError, match=r"notes\.mp4: not a video file ffmpeg can read"):
        read_video(path)


@pytest.mark.parametrize("name", ["empty.mp4", "empty.avi"])
def test_zero_frame_video(tmp_path, name):
    path = tmp_path / name
    codec = "libx264" if name.endswith(".mp4") else "rawvideo"
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=size=32x32:rate=10"]
    subprocess.run([*cmd, "-frames:v", "0", "-c:v", codec, str(path)], check=True, capture_output=True)
    with pytest.raises(RecordingError, match=rf"{name.replace('.', '[.]')}: holds no video frames"):
        read_video(path)
