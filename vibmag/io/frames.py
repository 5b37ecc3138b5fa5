"""Image sequences: a folder or glob of ``.png`` / ``.tif`` / ``.tiff`` frames as a recording.

Files are ordered naturally (``frame2`` before ``frame10``). Every file's
header is checked up front (same shape and pixel type as the first file);
pixels are read lazily, a chunk of files at a time, when the frames are used.
TIFFs are read with tifffile (8-, 16-bit and float, grey or colour), PNGs with
Pillow (8-bit grey or colour, 16-bit grey).
"""

from __future__ import annotations

import glob
import logging
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import tifffile
import xarray as xr
from PIL import Image

from ..errors import RecordingError, RecordingNotFoundError
from ..recording import lazy_time_chunks, make_recording

__all__ = ["read_frames", "list_frame_files", "natural_sort_key", "FRAME_SUFFIXES"]

logger = logging.getLogger(__name__)

#: What Pillow and tifffile raise on corrupt or truncated files (made RecordingError naming the file).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, tifffile.TiffFileError, IndexError, KeyError, TypeError)
#: Image file suffixes read as frames (compared case-insensitively).
FRAME_SUFFIXES = (".png", ".tif", ".tiff")
_GLOB_CHARACTERS = re.compile(r"[*?\[]")
#: Pillow modes of PNG frames -> (NumPy dtype, channels, mode to convert to first).
_PNG_MODES = {
    "1": (np.bool_, 1, None),
    "L": (np.uint8, 1, None),
    "LA": (np.uint8, 1, "L"),
    "P": (np.uint8, 3, "RGB"),
    "PA": (np.uint8, 3, "RGB"),
    "RGB": (np.uint8, 3, None),
    "RGBA": (np.uint8, 3, "RGB"),
    "I;16": (np.uint16, 1, None),
}


@dataclass(frozen=True)
class FrameLayout:
    """Shape and pixel type of one frame file, as its header states."""

    shape: tuple[int, ...]  # (y, x) or (y, x, channel)
    dtype: np.dtype

    def describe(self) -> str:
        return f"{' x '.join(map(str, self.shape))} {np.dtype(self.dtype).name}"


def read_frames(source, *, frame_rate, pixel_size=None, bit_depth: int | None = None) -> xr.Dataset:
    """Read a folder or glob of image files as one recording, one file per frame.

    Parameters
    ----------
    source : str or os.PathLike
        A folder (every ``.png``, ``.tif``, ``.tiff`` file in it), a glob
        pattern such as ``"run3/frame_*.tif"``, or one image file.
    frame_rate : str or pint.Quantity
        Capture rate, e.g. ``"2 kHz"``; required, since image files do not
        store one.
    pixel_size : str or pint.Quantity, optional
        Size of one pixel on the object, e.g. ``"0.05 mm"``.
    bit_depth : int, optional
        Effective bits of integer pixels, e.g. 12 for 12-bit data in 16-bit
        TIFFs; default: the pixel type's full range.

    Returns
    -------
    xarray.Dataset
        ``frames`` float32 in [0, 1], dims (time, y, x) or
        (time, y, x, channel), dask-backed; attrs ``first_file``,
        ``last_file`` and ``n_files`` besides the usual ones.

    Raises
    ------
    RecordingNotFoundError
        If ``source`` is neither an existing folder or file nor a glob.
    RecordingError
        If ``frame_rate`` is missing, no image files are found, a file is
        unreadable, or a frame's shape or pixel type differs from the first.

    Notes
    -----
    Alpha channels are dropped and palette PNGs expanded to RGB. 16-bit
    colour PNGs are refused (Pillow would truncate them to 8 bits); save
    such frames as TIFF. Multi-page TIFFs are refused: one frame per file.
    """
    if frame_rate is None:
        raise RecordingError(f"{source}: image files store no capture rate; pass frame_rate= (e.g. '2 kHz')")
    files = list_frame_files(source)
    layout = _common_layout(files)
    return make_recording(
        _lazy_stack(files, layout),
        frame_rate=frame_rate,
        pixel_size=pixel_size,
        bit_depth=bit_depth,
        source=str(source),
        attrs={"first_file": files[0].name, "last_file": files[-1].name, "n_files": len(files)},
    )


def list_frame_files(source) -> list[Path]:
    """The image files ``source`` names, in natural order (``frame2`` before ``frame10``).

    Raises
    ------
    RecordingNotFoundError
        If ``source`` is not a glob and does not exist.
    RecordingError
        If it names no ``.png`` / ``.tif`` / ``.tiff`` files.
    """
    text = str(source)
    if _GLOB_CHARACTERS.search(text):
        matches = [Path(match) for match in glob.glob(text)]
        where = f"{text}: no .png/.tif/.tiff files match this pattern"
    elif Path(text).is_dir():
        matches = list(Path(text).iterdir())
        where = f"{text}: the folder holds no .png/.tif/.tiff files"
    elif Path(text).is_file():
        matches = [Path(text)]
        where = f"{text}: not a .png/.tif/.tiff file"
    else:
        raise RecordingNotFoundError(f"{text}: no such folder or file")
    files = [path for path in matches if path.is_file() and path.suffix.lower() in FRAME_SUFFIXES]
    if not files:
        raise RecordingError(where)
    skipped = len(matches) - len(files)
    if skipped:
        logger.debug("%s: skipped %d entries that are not .png/.tif/.tiff files", text, skipped)
    return sorted(files, key=lambda path: natural_sort_key(path.name))


def natural_sort_key(name: str) -> tuple:
    """Sort key that orders digit runs by value: 'frame2' < 'frame10'; letters case-insensitively."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(part) if i % 2 else part.lower() for i, part in enumerate(parts))


def _common_layout(files: list[Path]) -> FrameLayout:
    """The first file's layout, after checking every file's header agrees with it."""
    first = frame_layout(files[0])
    for path in files[1:]:
        layout = frame_layout(path)
        if layout != first:
            raise RecordingError(
                f"{path}: frame is {layout.describe()}, but {files[0].name} (the first frame) is {first.describe()}"
            )
    return first


def frame_layout(path: Path) -> FrameLayout:
    """Shape and pixel type of an image file, from its header only."""
    try:
        return _png_layout(path) if path.suffix.lower() == ".png" else _tiff_layout(path)
    except RecordingError:
        raise
    except DECODE_ERRORS as exc:
        raise RecordingError(f"{path}: cannot read the image ({exc})") from exc


def _png_layout(path: Path) -> FrameLayout:
    """FrameLayout of a PNG; RecordingError for 16-bit colour (Pillow would truncate it)."""
    bit_depth, colour_type = _png_ihdr(path)
    if bit_depth == 16 and colour_type != 0:
        raise RecordingError(f"{path}: 16-bit colour PNGs are not supported (read as 8 bit); save the frames as TIFF")
    with Image.open(path) as image:
        if image.mode not in _PNG_MODES:
            raise RecordingError(f"{path}: unsupported PNG pixel mode {image.mode!r}")
        dtype, channels, _ = _PNG_MODES[image.mode]
        shape = (image.height, image.width) if channels == 1 else (image.height, image.width, channels)
    return FrameLayout(shape, np.dtype(dtype))


def _png_ihdr(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR chunk; RecordingError if it is not a PNG."""
    with open(path, "rb") as file:
        head = file.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise RecordingError(f"{path}: not a PNG file")
    return head[24], head[25]


def _tiff_layout(path: Path) -> FrameLayout:
    """FrameLayout of a single-page TIFF stored as YX or YXS (samples last)."""
    with tifffile.TiffFile(path) as tiff:
        if len(tiff.pages) != 1:
            raise RecordingError(f"{path}: holds {len(tiff.pages)} pages; read_frames expects one frame per file")
        page = tiff.pages[0]
        if page.axes not in ("YX", "YXS"):
            raise RecordingError(f"{path}: unsupported TIFF layout {page.axes!r} (expected YX or YXS)")
        channels = 1 if page.axes == "YX" else _kept_channels(page.shape[2])
        shape = page.shape[:2] if channels == 1 else (*page.shape[:2], channels)
        return FrameLayout(tuple(shape), np.dtype(page.dtype))


def _kept_channels(samples: int) -> int:
    """Channels kept from ``samples`` per pixel: alpha (the 2nd or 4th) is dropped."""
    return {1: 1, 2: 1, 4: 3}.get(samples, samples)


def _lazy_stack(files: list[Path], layout: FrameLayout) -> da.Array:
    """All frames as a dask array (time, *layout.shape), one delayed read per chunk of files."""
    per_chunk = lazy_time_chunks(layout.shape)
    blocks = []
    for start in range(0, len(files), per_chunk):
        chunk = files[start : start + per_chunk]
        block = dask.delayed(read_image_files, pure=True)(chunk, layout)
        blocks.append(da.from_delayed(block, shape=(len(chunk), *layout.shape), dtype=layout.dtype))
    return da.concatenate(blocks, axis=0)


def read_image_files(files: list[Path], layout: FrameLayout) -> np.ndarray:
    """Read ``files`` into one array (n, *layout.shape); RecordingError naming a file that differs."""
    out = np.empty((len(files), *layout.shape), dtype=layout.dtype)
    for i, path in enumerate(files):
        image = read_image(path)
        if image.shape != layout.shape or image.dtype != layout.dtype:
            raise RecordingError(
                f"{path}: frame is {FrameLayout(image.shape, image.dtype).describe()}, expected {layout.describe()}"
            )
        out[i] = image
    return out


def read_image(path: Path) -> np.ndarray:
    """One frame's pixels, shape (y, x) or (y, x, channel), alpha dropped; RecordingError if the file is corrupt or truncated."""
    try:
        return _decode_image(path)
    except RecordingError:
        raise
    except DECODE_ERRORS as exc:
        raise RecordingError(f"{path}: cannot read the image: corrupt or truncated ({type(exc).__name__}: {exc})") from exc


def _decode_image(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".png":
        with Image.open(path) as image:
            _, _, convert_to = _PNG_MODES.get(image.mode, (None, None, None))
            return np.asarray(image.convert(convert_to) if convert_to else image)
    pixels = tifffile.imread(path)
    if pixels.ndim == 3:
        channels = _kept_channels(pixels.shape[2])
        pixels = pixels[..., 0] if channels == 1 else pixels[..., :channels]
    return pixels
