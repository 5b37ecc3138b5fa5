"""Videos for viewing: write frames to MP4 (H.264) or GIF files.

:func:`write_video` streams frames to ffmpeg (MP4, H.264, yuv420p) or Pillow
(GIF), optionally with a second recording side by side, text labels and a
time stamp drawn in a band *above* the frames (the frames themselves are
never drawn over), and replaces the output file atomically
(:func:`vibmag.files.atomic_path`). Reading videos is :mod:`vibmag.io.video`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import imageio_ffmpeg
import numpy as np
import xarray as xr
from PIL import Image, ImageDraw, ImageFont

from ..errors import OutputError, OverwriteError, RecordingError
from ..files import atomic_path
from ..recording import frame_rate_hz
from ..units import frequency_hz
from .outputs import check_output
from .video import probe_video

__all__ = ["write_video"]

logger = logging.getLogger("vibmag.io.video")  # the logger of video files, as before the reader and writer were split

#: Default playback rate ceiling of written videos, in frames per second.
MAX_DEFAULT_FPS = 30.0
#: GIF players show at most 50 frames per second (delays are whole 1/100 s).
GIF_MAX_FPS = 50.0
#: Output formats of :func:`write_video`, by file suffix (readable formats: any ffmpeg decodes).
WRITE_SUFFIXES = (".mp4", ".gif")


@dataclass(frozen=True)
class _Frames:
    """A stream source for writing: frames (time, y, x[, channel]) and what is known about them."""

    data: object  # NumPy or dask array, or anything sliceable along time
    channels: int  # 1 or 3 after dropping alpha
    times: np.ndarray | None  # seconds, one per frame
    capture_rate: float | None  # Hz
    source: str | None  # the recording's own file

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape[:3])


def write_video(
    ds_or_frames,
    path,
    *,
    fps=None,
    side_by_side=None,
    labels: Sequence[str] | None = None,
    timestamp: bool = False,
    gap: int = 8,
    stack: str = "horizontal",
    zoom: int = 1,
    overwrite: bool = False,
    quality: float = 8,
    chunk_frames: int = 64,
) -> Path:
    """Write frames to an MP4 (H.264) or GIF file for viewing.

    Parameters
    ----------
    ds_or_frames : xarray.Dataset, xarray.DataArray or array, shape (time, y, x[, channel])
        A recording (its ``frames``), a DataArray of frames, or an array of
        floats in [0, 1] (clipped, then rounded to ``round(value * 255)``) or
        uint8 counts. A fourth channel (alpha) is dropped.
    path : str or os.PathLike
        Output file; ``.mp4`` or ``.gif``.
    fps : float or str, optional
        Playback rate in frames per second (``24``, ``"24 Hz"``). Default:
        ``min(capture rate, 30)``, so a 15 kHz recording plays slowly; 30 for
        arrays without a rate. Stored in the file and logged.
    side_by_side : Dataset, DataArray or array, optional
        Second frames of the same (time, y, x) shape, shown beside the first
        (see ``stack``) after a gap of ``gap`` black pixels.
    labels : sequence of str, optional
        One text per panel (e.g. ``("original", "magnified x20")``), drawn in
        a black band above the frames with Pillow's default font.
    timestamp : bool
        Draw each frame's time (the recording's ``time`` coordinate, s) in the
        band above the frames.
    gap : int
        Width of the black gap between side-by-side panels, in px.
    stack : {"horizontal", "vertical"}
        Second panel to the right of the first (one text band above both), or
        below it (each panel under its own band): wide, short frames such as a
        beam filmed side-on read better stacked.
    zoom : int
        Show each pixel as a ``zoom`` x ``zoom`` block (nearest neighbour, so
        pixel values are kept), for frames too small to see.
    overwrite : bool
        Replace an existing file. A recording's own source file is never
        overwritten.
    quality : float
        MP4 quality, 1 (smallest) to 10 (lossless luma); imageio-ffmpeg maps
        it to the H.264 CRF ``int((1 - quality / 10) * 51)``, so 8 is CRF 10.
    chunk_frames : int
        Frames held in memory at once while streaming to an MP4 (a GIF is
        assembled in memory by Pillow).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    OverwriteError
        If ``path`` exists and ``overwrite`` is False, or is a source file of
        the frames.
    ValueError
        On an unsupported suffix, frame shape, dtype or non-finite values,
        mismatched side-by-side shapes, a wrong number of labels, or a time
        stamp for frames without a time coordinate.

    Notes
    -----
    Convention: MP4 frames are padded to even width and height by repeating
    the last row/column (yuv420p needs even sizes). The file is written to a
    temporary name in the same folder and renamed over ``path`` only when
    complete, so a failure leaves no partial output. GIF frame delays are
    whole hundredths of a second, so the GIF rate is ``100 / round(100 / fps)``
    and at most 50 fps; Pillow merges identical consecutive GIF frames into
    one longer frame.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import vibmag
    >>> from vibmag import sample_data
    >>> ds = vibmag.open_recording(sample_data.path("showcase_beams")).isel(time=slice(0, 10))
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> vibmag.write_video(ds, folder / "beams.mp4", fps=15).name
    'beams.mp4'
    >>> brighter = ds.assign(frames=(ds["frames"] * 1.5).clip(0, 1))
    >>> path = vibmag.write_video(ds, folder / "compare.gif", side_by_side=brighter,
    ...                           labels=("original", "brighter"), timestamp=True, stack="vertical")
    >>> path.stat().st_size > 0
    True
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not 1 <= quality <= 10:
        raise OutputError(f"quality must be between 1 and 10, got {quality}")
    if suffix not in WRITE_SUFFIXES:
        raise OutputError(f"{path}: write_video writes {' or '.join(WRITE_SUFFIXES)} files, not {suffix!r}")
    panels = [_as_frames(ds_or_frames, "ds_or_frames")]
    if side_by_side is not None:
        panels.append(_as_frames(side_by_side, "side_by_side"))
        if panels[1].shape != panels[0].shape:
            raise OutputError(
                f"side_by_side frames must match (time, y, x) = {panels[0].shape}, got {panels[1].shape}"
            )
    _check_output(path, panels, overwrite=overwrite)
    check_output(path, suffixes=WRITE_SUFFIXES, inputs=[p.source for p in panels if p.source], overwrite=overwrite)
    layout = _Layout.for_panels(panels, labels=labels, timestamp=timestamp, gap=gap, stack=stack, zoom=zoom)
    fps = _playback_fps(fps, panels[0].capture_rate, gif=suffix == ".gif")
    comment = _rate_comment(fps, panels[0].capture_rate)
    logger.info("writing %s: %d frames at %g fps (%s)", path, panels[0].shape[0], fps, comment)
    canvases = _canvases(panels, layout, chunk_frames=chunk_frames)
    with atomic_path(path, suffix=".partial" + path.suffix) as tmp:  # the suffix tells ffmpeg the format
        if suffix == ".gif":
            _write_gif(tmp, canvases, fps=fps, comment=comment)
        else:
            _write_mp4(tmp, canvases, fps=fps, quality=quality, comment=comment, n_frames=panels[0].shape[0])
    return path


def _as_frames(obj, name: str) -> _Frames:
    """Unpack a recording, DataArray or array into a _Frames stream source."""
    times = capture_rate = source = None
    if isinstance(obj, xr.Dataset):
        source = obj.attrs.get("source")
        if "frames" not in obj:
            raise OutputError(f"{name}: the Dataset has no 'frames' variable")
        obj = obj["frames"].assign_attrs({**obj.attrs, **obj["frames"].attrs})
    if isinstance(obj, xr.DataArray):
        source = source or obj.attrs.get("source")
        if {"time", "y", "x"} <= set(obj.dims):
            obj = obj.transpose("time", "y", "x", ...)
        if "time" in obj.coords:
            times = np.asarray(obj["time"].values, dtype=float)
        try:
            capture_rate = frame_rate_hz(obj)
        except RecordingError:
            capture_rate = None
        data = obj.data
    else:
        data = obj if isinstance(obj, da.Array) else np.asarray(obj)
    if data.ndim not in (3, 4) or min(data.shape) == 0:
        raise OutputError(f"{name}: frames must be shaped (time, y, x) or (time, y, x, channel), got {data.shape}")
    channels = 1 if data.ndim == 3 else data.shape[3]
    if channels not in (1, 3, 4):
        raise OutputError(f"{name}: frames need 1, 3 or 4 (RGBA) channels, got {channels}")
    if data.ndim == 4:
        data = data[..., : min(channels, 3)]
    return _Frames(data, min(channels, 3), times, capture_rate, source)


def _check_output(path: Path, panels: list[_Frames], *, overwrite: bool) -> None:
    """Refuse to replace a source recording always, and an existing file unless ``overwrite``."""
    for panel in panels:
        if panel.source and _same_file(path, Path(panel.source)):
            raise OverwriteError(f"{path}: is the source recording of these frames; write elsewhere")
    if path.exists() and not overwrite:
        raise OverwriteError(f"{path}: already exists; pass overwrite=True to replace it")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: the output folder {path.parent} does not exist")


def _same_file(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` name the same file (resolving links and relative parts)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _playback_fps(fps, capture_rate: float | None, *, gif: bool) -> float:
    """The playback rate to write, in frames per second."""
    if fps is None:
        fps = min(capture_rate, MAX_DEFAULT_FPS) if capture_rate else MAX_DEFAULT_FPS
    else:
        fps = frequency_hz(fps, bare_unit="Hz")
    if not fps > 0:
        raise OutputError(f"fps must be positive, got {fps}")
    if gif:
        if fps > GIF_MAX_FPS:
            raise OutputError(f"GIF players show at most {GIF_MAX_FPS:g} fps, got fps={fps:g}; write an MP4")
        fps = 100.0 / max(2, round(100.0 / fps))
    return float(fps)


def _rate_comment(fps: float, capture_rate: float | None) -> str:
    """A note of playback and capture rate stored in the file's comment."""
    if not capture_rate:
        return f"vibmag: played at {fps:g} fps"
    return f"vibmag: played at {fps:g} fps, captured at {capture_rate:g} Hz ({capture_rate / fps:.4g}x slow motion)"


@dataclass(frozen=True)
class _Layout:
    """Where panels, gap and the text band go on each output canvas."""

    height: int  # of one panel on the canvas (zoomed), px
    width: int  # of one panel on the canvas (zoomed), px
    zoom: int  # canvas px per frame px
    channels: int  # 1 (grey) or 3 (RGB) on the canvas
    n_panels: int
    gap: int
    band: int  # height of the text band above the panels, px (0: none)
    labels: tuple[str, ...]
    time_format: str | None  # e.g. "t = {:.5f} s", or None for no time stamp
    font: object  # a Pillow font, or None without a band
    vertical: bool  # panels one below the other, each under its own band

    @classmethod
    def for_panels(cls, panels: list[_Frames], *, labels, timestamp: bool, gap: int, stack: str = "horizontal",
                   zoom: int = 1) -> _Layout:
        if stack not in ("horizontal", "vertical"):
            raise OutputError(f"stack must be 'horizontal' or 'vertical', got {stack!r}")
        if not isinstance(zoom, int) or isinstance(zoom, bool) or zoom < 1:
            raise OutputError(f"zoom must be a positive integer, got {zoom!r}")
        _, height, width = panels[0].shape
        height, width = height * zoom, width * zoom
        labels = tuple(labels or ())
        if labels and len(labels) != len(panels):
            raise OutputError(f"labels needs one text per panel ({len(panels)}), got {len(labels)}")
        if gap < 0:
            raise OutputError(f"gap must be >= 0 px, got {gap}")
        time_format = _time_format(panels[0].times) if timestamp else None
        font = ImageFont.load_default(size=max(10, width // 32)) if labels or timestamp else None
        band = _band_height(font) if font is not None else 0
        channels = max(panel.channels for panel in panels)
        return cls(height, width, zoom, channels, len(panels), gap, band, labels, time_format, font, stack == "vertical")

    @property
    def canvas_shape(self) -> tuple[int, ...]:
        n, gaps = self.n_panels, (self.n_panels - 1) * self.gap
        if self.vertical:
            shape = (n * (self.band + self.height) + gaps, self.width)
        else:
            shape = (self.band + self.height, n * self.width + gaps)
        return shape if self.channels == 1 else (*shape, 3)

    def panel_origin(self, index: int) -> tuple[int, int]:
        """(top, left) of panel ``index``'s text band on the canvas, px."""
        if self.vertical:
            return index * (self.band + self.height + self.gap), 0
        return 0, index * (self.width + self.gap)


def _time_format(times: np.ndarray | None) -> str:
    """A format for time stamps with enough decimals to tell frames apart."""
    if times is None:
        raise OutputError("timestamp=True needs a recording (Dataset or DataArray) with a time coordinate")
    steps = np.diff(times)
    step = float(np.median(steps)) if steps.size else 1e-3
    decimals = min(9, max(0, math.ceil(-math.log10(step)) + 1)) if step > 0 else 3
    return "t = {:.%df} s" % decimals


def _band_height(font) -> int:
    """Height of a text band that fits one line of ``font`` with a small margin, px."""
    top, bottom = font.getbbox("Ag|t=0.1")[1::2]
    return int(bottom - min(top, 0)) + 6


def _canvases(panels: list[_Frames], layout: _Layout, *, chunk_frames: int) -> Iterator[np.ndarray]:
    """Yield each output frame as uint8 (rows, cols[, 3]), ``chunk_frames`` input frames at a time."""
    if chunk_frames < 1:
        raise OutputError(f"chunk_frames must be >= 1, got {chunk_frames}")
    n_time = panels[0].shape[0]
    for start in range(0, n_time, chunk_frames):
        window = slice(start, min(start + chunk_frames, n_time))
        blocks = [_to_uint8(np.asarray(panel.data[window]), layout.channels) for panel in panels]
        for offset, frames in enumerate(zip(*blocks)):
            yield _compose(frames, layout, start + offset, panels[0].times)


def _to_uint8(block: np.ndarray, channels: int) -> np.ndarray:
    """Frames as uint8: floats clipped to [0, 1] and rounded from value * 255; grey made RGB if needed."""
    if block.dtype == np.uint8:
        out = block
    elif np.issubdtype(block.dtype, np.floating):
        if not np.isfinite(block).all():
            raise RecordingError("frames hold NaN or infinite values; cannot write them as video")
        out = np.rint(np.clip(block, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise OutputError(f"frames must be floats in [0, 1] or uint8 counts, got dtype {block.dtype}")
    if out.ndim == 4 and out.shape[-1] == 1:
        out = out[..., 0]
    if channels == 3 and out.ndim == 3:
        out = np.repeat(out[..., None], 3, axis=-1)
    return out


def _compose(frames: tuple[np.ndarray, ...], layout: _Layout, index: int, times) -> np.ndarray:
    """One canvas: the panels side by side below the text band, with labels and time stamp drawn."""
    canvas = np.zeros(layout.canvas_shape, dtype=np.uint8)
    for i, frame in enumerate(frames):
        top, left = layout.panel_origin(i)
        if layout.zoom > 1:
            frame = frame.repeat(layout.zoom, axis=0).repeat(layout.zoom, axis=1)
        canvas[top + layout.band : top + layout.band + layout.height, left : left + layout.width] = frame
    if layout.band == 0:
        return canvas
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    white = 255 if layout.channels == 1 else (255, 255, 255)
    for i, label in enumerate(layout.labels):
        top, left = layout.panel_origin(i)
        draw.text((left + 3, top + 3), label, fill=white, font=layout.font)
    if layout.time_format is not None:
        text = layout.time_format.format(times[index])
        right = draw.textbbox((0, 0), text, font=layout.font)[2]
        draw.text((canvas.shape[1] - right - 3, 3), text, fill=white, font=layout.font)
    return np.asarray(image)


def _pad_even(frame: np.ndarray) -> np.ndarray:
    """Repeat the last row and/or column so height and width are even (yuv420p)."""
    pad_rows, pad_cols = frame.shape[0] % 2, frame.shape[1] % 2
    if not pad_rows and not pad_cols:
        return frame
    pad = [(0, pad_rows), (0, pad_cols)] + [(0, 0)] * (frame.ndim - 2)
    return np.pad(frame, pad, mode="edge")


def _write_mp4(tmp: Path, canvases: Iterator[np.ndarray], *, fps, quality, comment, n_frames) -> None:
    """Stream canvases to an H.264 MP4 through imageio-ffmpeg; check the frame count written."""
    first = _pad_even(next(canvases))
    writer = imageio_ffmpeg.write_frames(
        str(tmp),
        size=(first.shape[1], first.shape[0]),
        pix_fmt_in="gray" if first.ndim == 2 else "rgb24",
        pix_fmt_out="yuv420p",
        fps=fps,
        quality=quality,
        codec="libx264",
        macro_block_size=1,
        ffmpeg_log_level="error",
        output_params=["-metadata", f"comment={comment}", "-movflags", "+faststart"],
    )
    writer.send(None)
    try:
        writer.send(np.ascontiguousarray(first))
        for canvas in canvases:
            writer.send(np.ascontiguousarray(_pad_even(canvas)))
    except OSError as exc:
        raise RecordingError(f"{tmp}: ffmpeg failed while writing: {exc}") from exc
    finally:
        writer.close()
    written = probe_video(tmp).n_frames
    if written != n_frames:
        raise RecordingError(f"{tmp}: ffmpeg wrote {written} of {n_frames} frames")


def _write_gif(tmp: Path, canvases: Iterator[np.ndarray], *, fps: float, comment: str) -> None:
    """Write canvases as a looping GIF with Pillow (grey: exact; colour: 256-colour palette per frame)."""
    images = (_gif_image(canvas) for canvas in canvases)
    first = next(images)
    first.save(
        tmp,
        format="GIF",
        save_all=True,
        append_images=images,
        duration=round(1000.0 / fps),
        loop=0,
        comment=comment,
    )


def _gif_image(canvas: np.ndarray) -> Image.Image:
    """A Pillow image GIF can hold: 'L' for grey, adaptive 256-colour 'P' for RGB."""
    image = Image.fromarray(canvas)
    return image if image.mode == "L" else image.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
