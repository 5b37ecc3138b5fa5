"""Videos: read ffmpeg formats (.mp4, .avi, .mov, .gif, ...) as recordings.

Reading decodes with the ffmpeg binary that ships with ``imageio-ffmpeg``.
A container stores a *playback* rate, not the capture rate of the camera, so
:func:`read_video` uses the container's rate only when no ``frame_rate`` is
given, and says so in ``attrs["frame_rate_source"]``.

Writing MP4 and GIF files is :func:`vibmag.io.video_write.write_video`,
also importable from here.
"""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import dask
import dask.array as da
import imageio_ffmpeg
import numpy as np
import xarray as xr

from ..errors import RecordingError, RecordingNotFoundError
from ..recording import lazy_time_chunks, make_recording
from ..units import format_quantity

__all__ = ["read_video", "probe_video", "VideoInfo", "decode_frames"]

logger = logging.getLogger(__name__)

#: ``attrs["frame_rate_source"]`` when the rate comes from the video container.
CONTAINER_RATE_SOURCE = "container (playback rate; pass frame_rate= for the capture rate)"
#: Largest channel difference (8-bit counts) of a video still read as mono:
#: lossy codecs leave a count or two of chroma noise in grey content.
MONO_TOLERANCE = 2
#: FFmpeg's AV_NOPTS_VALUE: a packet without a presentation time stamp.
_NO_PTS = -(2**63)


@dataclass(frozen=True, eq=False)
class VideoInfo:
    """What ffmpeg reports about a video's first video stream."""

    width: int
    height: int
    fps: float | None  # the container's (playback) rate, frames per second
    codec: str
    frame_times: np.ndarray = field(repr=False)  # presentation time of every frame, s, in order

    @property
    def n_frames(self) -> int:
        return len(self.frame_times)



def read_video(path, *, frame_rate=None, pixel_size=None) -> xr.Dataset:
    """Read a video file (any format ffmpeg decodes) as a recording.

    Parameters
    ----------
    path : str or os.PathLike
        ``.mp4``, ``.avi``, ``.mov``, ``.gif``, ...
    frame_rate : str or pint.Quantity, optional
        Capture rate, e.g. ``"15000 Hz"``. Default: the container's rate,
        which is usually the *playback* rate; ``attrs["frame_rate_source"]``
        records which one was used.
    pixel_size : str or pint.Quantity, optional
        Size of one pixel on the object, e.g. ``"0.05 mm"``.

    Returns
    -------
    xarray.Dataset
        ``frames`` float32 in [0, 1] (8-bit counts / 255), dims
        (time, y, x) when every channel is equal (grey video) or
        (time, y, x, channel=3) for colour. Videos whose decoded frames
        exceed :data:`vibmag.recording.LAZY_CHUNK_BYTES` (as float32) are
        dask-backed and decoded chunk by chunk on access; smaller ones are
        decoded at once.

    Raises
    ------
    RecordingNotFoundError
        If the file does not exist.
    RecordingError
        If ffmpeg cannot read it as a video, it holds no video frames, or it
        states no frame rate and none was given.

    Notes
    -----
    Frames are decoded as stored (rotation metadata is ignored), 8 bits per
    channel. A lazy chunk seeks to just before its first frame and keeps the
    frames from that frame's time stamp on; where seeking fails (e.g. MPEG-TS
    without an index) it decodes from the start of the file instead.
    Grey is detected from all frames when decoded at once, else from the
    first, middle and last frame.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from vibmag.io.video import read_video
    >>> from vibmag.io.video_write import write_video
    >>> frames = np.linspace(0.2, 0.8, 5 * 16 * 16, dtype=np.float32).reshape(5, 16, 16)
    >>> path = write_video(frames, pathlib.Path(tempfile.mkdtemp()) / "ramp.mp4", fps=25)
    >>> ds = read_video(path, frame_rate="15 kHz")
    >>> ds["frames"].dims, ds.sizes["time"], ds.attrs["frame_rate"], ds.attrs["frame_rate_source"]
    (('time', 'y', 'x'), 5, '15000 Hz', 'user')
    >>> read_video(path).attrs["frame_rate"]    # without frame_rate=: the container's playback rate
    '25 Hz'
    """
    path = _existing_file(path)
    info = probe_video(path)
    if frame_rate is not None:
        rate, rate_source = frame_rate, "user"
    elif info.fps:
        rate, rate_source = format_quantity(info.fps, "Hz"), CONTAINER_RATE_SOURCE
    else:
        raise RecordingError(f"{path}: the video states no frame rate; pass frame_rate= (e.g. '15000 Hz')")
    frames = _video_frames(path, info)
    if _is_mono(path, info, frames):
        frames = _channel_mean(frames)
    attrs = {
        "frame_rate_source": rate_source,
        "container_frame_rate": None if info.fps is None else format_quantity(info.fps, "Hz"),
        "codec": info.codec,
    }
    return make_recording(frames, frame_rate=rate, pixel_size=pixel_size, bit_depth=8, source=str(path), attrs=attrs)


def probe_video(path) -> VideoInfo:
    """Size, container rate, codec and frame time stamps of a video's first video stream.

    Lists the stream's packets (ffmpeg's ``framecrc`` muxer with stream copy,
    original time stamps kept), so nothing is decoded.

    Raises
    ------
    RecordingError
        If ffmpeg cannot open the file as media, or it holds no video frames.
    """
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-noautorotate", "-copyts", "-i", str(path)]
    cmd += ["-map", "0:v:0?", "-c", "copy", "-f", "framecrc", "-"]
    result = subprocess.run(cmd, capture_output=True, check=False)
    log = result.stderr.decode(errors="replace")
    if "Input #0" not in log:
        raise RecordingError(f"{path}: not a video file ffmpeg can read ({_last_line(log)})")
    stream = re.search(r"Stream #0:\d+.*?: Video: (.*)", log)
    if stream is None:
        raise RecordingError(f"{path}: holds no video frames (no video stream)")
    frame_times = _packet_times(result.stdout.decode(errors="replace"))
    if frame_times.size == 0:
        raise RecordingError(f"{path}: holds no video frames (zero-frame video)")
    return _parse_stream_line(stream.group(1), frame_times, path)


def _packet_times(listing: str) -> np.ndarray:
    """Sorted presentation times (s) from a framecrc listing ('#tb 0: 1/30', then 'stream, dts, pts, ...')."""
    timebase = re.search(r"#tb 0: (\d+)/(\d+)", listing)
    rows = [line.split(",") for line in listing.splitlines() if line and not line.startswith("#")]
    if timebase is None or not rows:
        return np.empty(0)
    stamps = np.array([[int(row[1]), int(row[2])] for row in rows], dtype=np.int64)
    pts = stamps[:, 1] if (stamps[:, 1] != _NO_PTS).all() else stamps[:, 0]
    return np.sort(pts) * (int(timebase.group(1)) / int(timebase.group(2)))


def _parse_stream_line(line: str, frame_times: np.ndarray, path) -> VideoInfo:
    """VideoInfo from ffmpeg's 'Video: h264 (High) ..., yuv420p, 64x48, 25 fps, 25 tbr' line."""
    size = re.search(r", (\d+)x(\d+)", line)
    if size is None:
        raise RecordingError(f"{path}: ffmpeg reports no frame size for the video stream ({line})")
    rate = re.search(r"([\d.]+)(k?) fps", line) or re.search(r"([\d.]+)(k?) tbr", line)
    fps = float(rate.group(1)) * (1000 if rate.group(2) else 1) if rate else 0.0
    return VideoInfo(
        width=int(size.group(1)),
        height=int(size.group(2)),
        fps=fps or None,
        codec=line.split(",")[0].split()[0],
        frame_times=frame_times,
    )


def _video_frames(path: Path, info: VideoInfo):
    """All frames as uint8 (time, y, x, 3): NumPy if one chunk holds them, else dask."""
    per_chunk = lazy_time_chunks((info.height, info.width, 3))
    if per_chunk >= info.n_frames:
        return decode_frames(path, info, start=0, count=info.n_frames)
    blocks = []
    for start in range(0, info.n_frames, per_chunk):
        count = min(per_chunk, info.n_frames - start)
        seek, keep_from = _seek_window(info, start)
        block = dask.delayed(_decode_chunk, pure=True)(path, (info.height, info.width), count, seek, keep_from)
        blocks.append(da.from_delayed(block, shape=(count, info.height, info.width, 3), dtype=np.uint8))
    return da.concatenate(blocks, axis=0)


def decode_frames(path, info: VideoInfo, *, start: int, count: int) -> np.ndarray:
    """Decode frames ``start`` to ``start + count`` as uint8 RGB, shape (count, y, x, 3)."""
    return _decode_chunk(path, (info.height, info.width), count, *_seek_window(info, start))


def _seek_window(info: VideoInfo, start: int) -> tuple[float | None, float | None]:
    """(seek, keep_from) for frame ``start``, s: seek to the previous frame (relative to the
    first), keep frames from midway between it and ``start``; (None, None) for frame 0."""
    if start == 0:
        return None, None
    times = info.frame_times
    return float(times[start - 1] - times[0]), float(times[start - 1] + times[start]) / 2


def _decode_chunk(path, size: tuple[int, int], count: int, seek: float | None, keep_from: float | None) -> np.ndarray:
    """Decode ``count`` frames from time stamp ``keep_from`` on, seeking to ``seek`` first.

    Falls back to decoding from the start of the file when the seek yields
    too few frames.
    """
    frames = _run_decoder(path, size, count, seek, keep_from)
    if frames is None and seek is not None:
        logger.debug("%s: seeking to %.6f s failed; decoding from the start", path, seek)
        frames = _run_decoder(path, size, count, None, keep_from)
    if frames is None:
        raise RecordingError(f"{path}: could not decode {count} frames from t = {keep_from or 0:.6f} s on")
    return frames


def _run_decoder(path, size, count, seek, keep_from) -> np.ndarray | None:
    """One ffmpeg run decoding to RGB24; None if it failed or gave fewer than ``count`` frames."""
    height, width = size
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-noautorotate", "-copyts"]
    if seek is not None:
        cmd += ["-ss", f"{seek:.9f}"]
    cmd += ["-i", str(path), "-map", "0:v:0", "-frames:v", str(count), "-fps_mode", "passthrough"]
    if keep_from is not None:
        cmd += ["-vf", f"select='gte(t,{keep_from:.9f})'"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    result = subprocess.run(cmd, capture_output=True, check=False)
    frame_bytes = height * width * 3
    if result.returncode != 0 or len(result.stdout) != count * frame_bytes:
        reason = _last_line(result.stderr.decode(errors="replace"))
        logger.debug("%s: ffmpeg gave %d of %d bytes (%s)", path, len(result.stdout), count * frame_bytes, reason)
        return None
    return np.frombuffer(result.stdout, dtype=np.uint8).reshape(count, height, width, 3)


def _is_mono(path: Path, info: VideoInfo, frames) -> bool:
    """True when the channels agree within MONO_TOLERANCE (all frames, or first/middle/last if lazy)."""
    if isinstance(frames, np.ndarray):
        sample = frames
    else:
        picks = sorted({0, info.n_frames // 2, info.n_frames - 1})
        sample = np.concatenate([decode_frames(path, info, start=i, count=1) for i in picks])
    spread = sample.max(axis=-1).astype(np.int16) - sample.min(axis=-1)
    return int(spread.max()) <= MONO_TOLERANCE


def _channel_mean(frames):
    """(time, y, x, 3) uint8 -> (time, y, x) uint8, the rounded mean of the channels."""
    total = frames.astype(np.uint16).sum(axis=-1)
    return ((total + 1) // 3).astype(np.uint8)


def _existing_file(path) -> Path:
    """``path`` as a Path; RecordingNotFoundError if it is not an existing file."""
    path = Path(path)
    if not path.is_file():
        raise RecordingNotFoundError(f"{path}: no such file")
    return path


def _last_line(text: str) -> str:
    """The last non-empty line of ffmpeg's log (its error message), or ''."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


#: Names of :mod:`vibmag.io.video_write` still importable from here (``from vibmag.io.video import write_video``).
