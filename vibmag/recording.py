"""The recording layout every vibmag reader returns (API.md, "Recordings").

A recording is an :class:`xarray.Dataset` with

* ``frames``: float32 intensities in [0, 1], dims ``("time", "y", "x")`` for
  mono or ``("time", "y", "x", "channel")`` for colour; NumPy-backed for small
  recordings, dask-backed (lazy) for large ones; ``units`` "1".
* coordinates ``time`` (s, 0 at the first frame), ``y`` and ``x`` (pixel
  indices, ``units`` "px");
* attrs ``frame_rate`` (capture rate, a string pint parses, e.g. ``"15000 Hz"``),
  ``pixel_size`` when known (``"0.05 mm"``), ``source``, ``bit_depth`` and
  whatever the file's header said, as plain strings and numbers.

:func:`make_recording` is the one place that builds this layout, so every
reader, the synthetic scenes and in-memory arrays agree on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import dask.array as da
import numpy as np
import xarray as xr

from .errors import RecordingError
from .units import format_quantity, frequency_hz, length_mm

__all__ = [
    "make_recording",
    "frame_rate_hz",
    "pixel_size_mm",
    "iter_frame_chunks",
    "describe_recording",
    "LAZY_CHUNK_BYTES",
    "describe_frames",
    "require_frames",
    "MIN_SPECTRUM_FRAMES",
    "guard_values",
]

#: Target size of one lazy chunk of frames (float32), in bytes.
LAZY_CHUNK_BYTES = 64 * 2**20
#: Frames a spectrum needs to show a peak (fewer give no frequency between 0 and Nyquist).
MIN_SPECTRUM_FRAMES = 4
#: Integer frames wider than this (int32, uint64...) with no stated bit depth are scaled by their maximum's bit depth.
WIDE_INT_BITS = 16
#: Float intensities may stray this far outside [0, 1] (rounding) before they are refused.
RANGE_TOLERANCE = 1e-4


def make_recording(
    frames,
    *,
    frame_rate,
    pixel_size=None,
    bit_depth: int | None = None,
    source: str = "array",
    attrs: Mapping | None = None,
    check_finite: bool = True,
) -> xr.Dataset:
    """Wrap raw frames into vibmag's recording Dataset.

    Parameters
    ----------
    frames : array-like or dask array, shape (time, y, x) or (time, y, x, channel)
        Integer sensor counts (scaled by ``2**bit_depth - 1``) or floats that
        are already intensities in [0, 1]. Dask arrays stay lazy.
    frame_rate : str or pint.Quantity
        Capture rate, e.g. ``"15000 Hz"``.
    pixel_size : str or pint.Quantity, optional
        Size of one pixel on the object, e.g. ``"0.05 mm"``.
    bit_depth : int, optional
        Effective bits of integer data; default: the dtype's full range.
    source : str
        Where the frames came from (a path, or ``"array"``).
    attrs : mapping, optional
        Extra metadata (header fields) stored in the Dataset's attrs.
    check_finite : bool
        Check the values (the policy of ``_to_intensities``): refuse NaN,
        infinite or out-of-[0, 1] float frames and negative integer counts,
        naming the frames; scale wide integers by their maximum's bit depth.

    Returns
    -------
    xarray.Dataset
        The recording layout described in this module's docstring.

    Raises
    ------
    RecordingError
        On a wrong number of dimensions, an empty recording, a bit depth that
        does not fit the dtype, non-finite or out-of-range values, or a
        frame rate or pixel size that is not positive.
    """
    frames = frames if isinstance(frames, da.Array) else np.asarray(frames)
    _check_frame_shape(frames.shape, source)
    if bit_depth is not None and (isinstance(bit_depth, bool) or not isinstance(bit_depth, (int, np.integer))):
        raise RecordingError(f"{source}: bit depth must be a whole number of bits, e.g. 12, got {bit_depth!r}")
    rate_hz = frequency_hz(frame_rate)
    if rate_hz <= 0:
        raise RecordingError(f"{source}: frame rate must be positive, got {frame_rate!r}")
    if pixel_size is not None and not length_mm(pixel_size) > 0:
        raise RecordingError(f"{source}: pixel size must be positive, got {pixel_size!r}")
    intensities, bit_depth = _to_intensities(frames, bit_depth, source, check_finite)
    dims = ("time", "y", "x", "channel")[: intensities.ndim]
    n_time, n_y, n_x = intensities.shape[:3]
    coords = {
        "time": ("time", np.arange(n_time) / rate_hz, {"units": "s", "long_name": "time"}),
        "y": ("y", np.arange(n_y), {"units": "px"}),
        "x": ("x", np.arange(n_x), {"units": "px"}),
    }
    all_attrs = {k: v for k, v in dict(attrs or {}).items() if v is not None}
    all_attrs.update(frame_rate=format_quantity(rate_hz, "Hz"), source=str(source))
    if bit_depth is not None:
        all_attrs["bit_depth"] = int(bit_depth)
    if pixel_size is not None:
        all_attrs["pixel_size"] = format_quantity(length_mm(pixel_size), "mm")
    frames_da = xr.DataArray(intensities, dims=dims, attrs={"units": "1", "long_name": "intensity"})
    return xr.Dataset({"frames": frames_da}, coords=coords, attrs=all_attrs)


def _check_frame_shape(shape: tuple, source: str) -> None:
    """Raise RecordingError unless ``shape`` is (time, y, x) or (time, y, x, channel<=4), non-empty."""
    if len(shape) not in (3, 4):
        raise RecordingError(
            f"{source}: frames must be shaped (time, y, x) or (time, y, x, channel), got shape {shape}"
        )
    if len(shape) == 4 and not 1 <= shape[3] <= 4:
        raise RecordingError(f"{source}: the channel axis (last) must hold 1 to 4 channels, got {shape[3]}")
    if min(shape[:3]) == 0:
        raise RecordingError(f"{source}: the recording is empty (shape {shape})")


def _to_intensities(frames, bit_depth, source, check_values):
    """Scale integer counts or check float intensities; return (float32 array, bit depth or None).

    The value policy (docs/refusals.md), applied when ``check_values``:

    * float frames must be finite and in [0, 1] (within :data:`RANGE_TOLERANCE`,
      then clipped into it); otherwise RecordingError naming the frames;
    * signed integer frames must not hold negative counts;
    * integer frames wider than :data:`WIDE_INT_BITS` bits with no stated
      bit depth are scaled by the bit depth of their maximum (at least 8), not
      by the dtype's range, which would leave them all but black.

    NumPy data is checked in memory; dask data is checked at open, chunk by
    chunk, only for the dtypes that need it (float, signed and wide integers),
    so camera formats (uint8/uint16) cost nothing.
    """
    dtype = np.dtype(frames.dtype)
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        max_bits = 1 if dtype == np.bool_ else dtype.itemsize * 8
        wide = bit_depth is None and max_bits > WIDE_INT_BITS
        if check_values and (dtype.kind == "i" or wide):
            low, high, _ = _frame_stats(frames)
            negative = np.flatnonzero(low < 0)
            if dtype.kind == "i" and negative.size:
                raise RecordingError(
                    f"{source}: negative counts (down to {int(low.min())}) in {dtype} data, "
                    f"{describe_frames(negative, len(low))}; vibmag reads integer frames as sensor counts >= 0: shift or rescale them first"
                )
            if wide:
                bit_depth = max(8, int(max(int(high.max()), 1)).bit_length())
        bits = max_bits if bit_depth is None else int(bit_depth)
        if not 1 <= bits <= max_bits:
            raise RecordingError(f"{source}: bit depth {bit_depth} does not fit {dtype} data (1..{max_bits} bits)")
        if check_values and bits < max_bits:
            frames = _within_bit_depth(frames, bits, source)
        return frames.astype(np.float32) / np.float32(2**bits - 1), bits
    if np.issubdtype(dtype, np.floating):
        if bit_depth is not None:
            raise RecordingError(f"{source}: bit_depth applies to integer data; float frames are intensities in [0, 1]")
        if check_values:  # on the values as given, before the cast (a 1e39 would overflow float32)
            low, high, bad = _frame_stats(frames)
            check_intensities(low, high, bad, source)
            return frames.clip(0, 1).astype(np.float32), None  # within RANGE_TOLERANCE outside [0, 1]: clipped in
        return frames.astype(np.float32), None
    raise RecordingError(f"{source}: unsupported pixel type {dtype}; expected integer or float data")


def _within_bit_depth(frames, bits: int, source: str):
    """``frames``, refused (RecordingError naming the frames) where a count exceeds ``2**bits - 1``: at once for
    NumPy data, as each chunk is read for dask data (reading a camera file at open only to check would cost a full read)."""
    top = 2**bits - 1

    def check(block, start=0, n_frames=None):
        over = np.flatnonzero((block.reshape(block.shape[0], -1) > top).any(axis=1)) if block.size else np.empty(0, int)
        if over.size:
            raise RecordingError(f"{source}: counts up to {int(block.max())} exceed the {bits}-bit depth stated for the data "
                                 f"(at most {top}) in {describe_frames(over + start, n_frames or block.shape[0])}; "
                                 "pass the right bit_depth=, e.g. bit_depth=16")
        return block

    if not isinstance(frames, da.Array):
        return check(frames)
    n_frames = frames.shape[0]
    return frames.map_blocks(lambda block, block_info=None: check(block, block_info[0]["array-location"][0][0] if block_info else 0, n_frames),
                             dtype=frames.dtype, meta=np.empty((0,) * frames.ndim, frames.dtype))


def check_intensities(low: np.ndarray, high: np.ndarray, bad: np.ndarray, source: str) -> None:
    """RecordingError unless every frame is finite (``bad == 0``) and within [0, 1] (per-frame ``low``, ``high``)."""
    nonfinite = np.flatnonzero(bad > 0)
    if nonfinite.size:
        raise RecordingError(
            f"{source}: {int(bad.sum())} NaN or infinite values in {describe_frames(nonfinite, len(bad))}; "
            "vibmag needs finite intensities: fill or interpolate them before opening"
        )
    outside = np.flatnonzero((low < -RANGE_TOLERANCE) | (high > 1 + RANGE_TOLERANCE))
    if outside.size:
        raise RecordingError(
            f"{source}: float frames are read as intensities in [0, 1], but values range from {float(low.min()):.6g} "
            f"to {float(high.max()):.6g} in {describe_frames(outside, len(low))}; rescale them to [0, 1] first, or store integer counts"
        )


def _frame_stats(frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: the smallest and largest finite value and the number of NaN/infinite values (one read of the data)."""
    axes = tuple(range(1, frames.ndim))
    if np.issubdtype(frames.dtype, np.integer) or frames.dtype == np.bool_:
        low, high = frames.min(axis=axes), frames.max(axis=axes)
        bad = np.zeros(frames.shape[0], np.int64)
    else:
        xp = da if isinstance(frames, da.Array) else np
        finite = xp.isfinite(frames)
        clean = xp.where(finite, frames, 0.5)
        low, high, bad = clean.min(axis=axes), clean.max(axis=axes), (~finite).sum(axis=axes)
    if isinstance(frames, da.Array):
        low, high, bad = da.compute(low, high, bad)
    return np.asarray(low), np.asarray(high), np.asarray(bad)


def describe_frames(indices, n_frames: int, *, limit: int = 6) -> str:
    """``"frames 0-9, 12 (11 of 20)"``: frame indices as runs, the first ``limit`` runs."""
    indices = [int(i) for i in indices]
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit]) + (", ..." if len(runs) > limit else "")
    word = "frame" if len(indices) == 1 else "frames"
    return f"{word} {text} ({len(indices)} of {n_frames})"


def guard_values(frames: da.Array, source: str) -> da.Array:
    """``frames`` (dask, float) that raise RecordingError naming the frames when a chunk holding NaN,
    infinite or out-of-range values is computed (for files not checked at open)."""
    if not np.issubdtype(frames.dtype, np.floating):
        return frames
    n_frames = frames.shape[0]

    def check(block, block_info=None):
        start = block_info[0]["array-location"][0][0] if block_info else 0
        if block.size:
            low, high, bad = _frame_stats(block)
            try:
                check_intensities(low, high, bad, source)
            except RecordingError:
                shifted_low, shifted_high, shifted_bad = (np.zeros(n_frames, a.dtype) for a in (low, high, bad))
                for full, part in ((shifted_low, low), (shifted_high, high), (shifted_bad, bad)):
                    full[start : start + len(part)] = part
                keep = np.zeros(n_frames, bool)
                keep[start : start + len(low)] = True
                check_intensities(np.where(keep, shifted_low, 0.5), np.where(keep, shifted_high, 0.5), shifted_bad, source)
        return block

    return frames.map_blocks(check, dtype=frames.dtype, meta=np.empty((0,) * frames.ndim, frames.dtype)).clip(0, 1)


def require_frames(ds, n_frames: int, what: str) -> None:
    """RecordingError naming the recording unless it holds at least ``n_frames`` frames (for ``what``)."""
    have = ds.sizes.get("time", 0)
    if have < n_frames:
        raise RecordingError(f"{ds.attrs.get('source', 'the recording')}: {have} frame{'s' if have != 1 else ''}; {what} needs at least {n_frames}")


def frame_rate_hz(ds: xr.Dataset | xr.DataArray) -> float:
    """The capture rate of a recording (or of data derived from one), in Hz.

    Read from the ``frame_rate`` attribute; data without it but with a
    uniformly sampled ``time`` coordinate get the rate from that.
    """
    if "frame_rate" in ds.attrs:
        return frequency_hz(ds.attrs["frame_rate"])
    if "time" in ds.coords and ds.sizes.get("time", 0) > 1:
        steps = np.diff(np.asarray(ds["time"].values, dtype=float))
        if np.allclose(steps, steps[0], rtol=1e-6) and steps[0] > 0:
            return 1.0 / float(steps[0])
    raise RecordingError("no frame_rate attribute and no uniformly sampled time coordinate")


def pixel_size_mm(ds: xr.Dataset | xr.DataArray) -> float | None:
    """The pixel size on the object in mm, or None when the recording does not say."""
    value = ds.attrs.get("pixel_size")
    return None if value in (None, "") else length_mm(value)


def iter_frame_chunks(ds: xr.Dataset, chunk_frames: int = 64) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(time_slice, frames)`` over a recording, ``chunk_frames`` at a time.

    Only one chunk is in memory at once, so this streams lazily loaded
    recordings of any length. ``frames`` is a float32 NumPy array shaped
    (n, y, x) or (n, y, x, channel).
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    n_time = ds.sizes["time"]
    for start in range(0, n_time, chunk_frames):
        window = slice(start, min(start + chunk_frames, n_time))
        yield window, np.asarray(ds["frames"].isel(time=window).values, dtype=np.float32)


def lazy_time_chunks(frame_shape: tuple, itemsize: int = 4) -> int:
    """Frames per lazy chunk so one chunk of float32 frames is about LAZY_CHUNK_BYTES."""
    frame_bytes = int(np.prod(frame_shape)) * itemsize
    return max(1, LAZY_CHUNK_BYTES // max(frame_bytes, 1))


def describe_recording(ds) -> str:
    """A short human-readable summary of a recording Dataset (what ``vibmag info`` prints)."""
    sizes = ds.sizes
    rate = frame_rate_hz(ds)
    lines = [
        f"source:       {ds.attrs.get('source', '?')}",
        f"format:       {ds.attrs.get('format', '?')}",
        f"frames:       {sizes['time']}",
        f"frame size:   {sizes['x']} x {sizes['y']} px (width x height)" + (f", {sizes['channel']} channels" if "channel" in sizes else ""),
        f"capture rate: {ds.attrs['frame_rate']}" + (f"  ({ds.attrs['frame_rate_source']})" if "frame_rate_source" in ds.attrs else ""),
        f"duration:     {sizes['time'] / rate:.6g} s",
        f"bit depth:    {ds.attrs.get('bit_depth', 'float data')}",
        f"pixel size:   {ds.attrs.get('pixel_size', 'unknown (pass --pixel-size)')}",
    ]
    for key in ("camera", "record_rate", "save_step", "dataset"):
        if key in ds.attrs and ds.attrs[key] != "":
            lines.append(f"{key + ':':<13} {ds.attrs[key]}")
    return "\n".join(lines)
