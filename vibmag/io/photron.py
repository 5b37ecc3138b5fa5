"""Photron FASTCAM recordings: a ``.cih`` or ``.cihx`` header beside a ``.mraw`` file.

The header is parsed here (``.cih``: ``Key : value`` lines; ``.cihx``: XML after
a short preamble); the ``.mraw`` is memory-mapped and decoded lazily with dask,
so opening a recording of any size takes a fraction of a second and reads no
frame data.

Conventions
-----------
* Capture rate: the header's record rate divided by its save step (Photron
  may save only every n-th frame: "Save Step" in .cih, ``skipFrame`` in
  .cihx). The frame interval of the saved frames is ``save_step / record_rate``.
* Bit depth: 8-bit and 16-bit containers, and 12-bit packed data (two pixels in
  three bytes, most significant bits first); 16-bit words are little-endian. In 16-bit containers the effective bits (e.g. 12)
  sit at the lower or higher end ("EffectiveBit Side"); intensities are scaled
  so the sensor's full scale is 1.
* Colour: "Color" recordings with 24 or 48 bits per pixel are read as
  interleaved RGB.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

import dask.array as da
import numpy as np

from ..errors import OverwriteError, RecordingError, RecordingNotFoundError
from ..recording import lazy_time_chunks, make_recording
from .lazy import lazy_from_file

__all__ = ["PhotronHeader", "read_photron_header", "read_photron", "write_photron", "pack_12bit", "unpack_12bit"]

HEADER_SUFFIXES = (".cih", ".cihx")


@dataclass(frozen=True)
class PhotronHeader:
    """The fields of a Photron header that vibmag needs to read the frames.

    Attributes
    ----------
    width, height : int
        Frame size in px.
    n_frames : int
        Frames saved in the .mraw file.
    record_rate : float
        Camera record rate in Hz (before the save step).
    save_step : int
        Only every ``save_step``-th recorded frame was saved (1: all).
    bits : int
        Bits per pixel in the file (8, 12, 16; 24 or 48 for colour).
    effective_bits : int
        Sensor bits holding data (<= bits per channel).
    effective_side : str
        "lower" or "higher": where the effective bits sit in a 16-bit word.
    colour : bool
        RGB data rather than mono.
    fields : dict
        Every field of the header, as text.
    """

    width: int
    height: int
    n_frames: int
    record_rate: float
    save_step: int
    bits: int
    effective_bits: int
    effective_side: str
    colour: bool
    fields: dict

    @property
    def channels(self) -> int:
        """Colour channels per pixel (1 or 3)."""
        return 3 if self.colour else 1

    @property
    def bits_per_channel(self) -> int:
        """Bits of one channel of one pixel in the file."""
        return self.bits // self.channels

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame in the .mraw file."""
        return self.width * self.height * self.bits // 8

    @property
    def frame_rate(self) -> float:
        """Rate of the saved frames in Hz: record rate / save step."""
        return self.record_rate / self.save_step


def read_photron_header(path: str | os.PathLike) -> PhotronHeader:
    """Parse a ``.cih`` or ``.cihx`` header.

    Raises
    ------
    RecordingNotFoundError
        If the file does not exist.
    RecordingError
        If the header cannot be parsed or lacks or contradicts a field vibmag needs.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordingNotFoundError(f"{path}: Photron header not found")
    raw = path.read_bytes()
    fields = _parse_cihx(raw, path) if path.suffix.lower() == ".cihx" else _parse_cih(raw, path)
    return _header_from_fields(fields, path)


def _parse_cih(raw: bytes, path: Path) -> dict:
    """``Key : value`` lines of a .cih file -> dict of strings (first occurrence wins)."""
    text = raw.decode("latin-1")
    if not text.lstrip().startswith("#Camera Information Header"):
        raise RecordingError(f"{path}: not a Photron .cih header (no '#Camera Information Header' line)")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            fields.setdefault(key.strip(), value.strip())
    return fields


_CIHX_PATHS = {
    "Record Rate(fps)": "recordInfo/recordRate",
    "Total Frame": "frameInfo/totalFrame",
    "Original Total Frame": "frameInfo/recordedFrame",
    "Start Frame": "frameInfo/startFrame",
    "Save Step": "frameInfo/skipFrame",
    "Image Width": "imageDataInfo/resolution/width",
    "Image Height": "imageDataInfo/resolution/height",
    "Color Type": "imageDataInfo/colorInfo/type",
    "Color Bit": "imageDataInfo/colorInfo/bit",
    "EffectiveBit Depth": "imageDataInfo/effectiveBit/depth",
    "EffectiveBit Side": "imageDataInfo/effectiveBit/side",
    "File Format": "imageFileInfo/fileFormat",
    "Camera Type": "deviceInfo/deviceName",
    "Date": "fileInfo/date",
    "Time": "fileInfo/time",
    "Shutter Speed(ns)": "recordInfo/shutterSpeedNsec",
    "Trigger Time": "recordInfo/triggerTime",
}


def _parse_cihx(raw: bytes, path: Path) -> dict:
    """The XML of a .cihx file -> dict of the .cih-style field names vibmag uses."""
    start, end = raw.find(b"<?xml"), raw.find(b"</cih>")
    if start < 0 or end < start:
        raise RecordingError(f"{path}: not a Photron .cihx header (no <cih> XML part)")
    try:
        root = ET.fromstring(raw[start : end + len(b"</cih>")])
    except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError: a corrupt encoding name
        raise RecordingError(f"{path}: corrupt .cihx header: {exc}") from exc
    fields = {}
    for name, xpath in _CIHX_PATHS.items():
        node = root.find(xpath)
        if node is not None and node.text is not None:
            fields[name] = node.text.strip()
    return fields


def _header_from_fields(fields: dict, path: Path) -> PhotronHeader:
    """Validate the fields vibmag needs and build a PhotronHeader."""
    colour = fields.get("Color Type", "Mono").strip().lower() in ("color", "colour", "rgb")
    bits = _int_field(fields, "Color Bit", path)
    allowed = (24, 48) if colour else (8, 12, 16)
    if bits not in allowed:
        kind = "colour" if colour else "mono"
        raise RecordingError(f"{path}: unsupported bit depth {bits} for {kind} data (supported: {allowed})")
    container_bits = bits // (3 if colour else 1)
    effective = _int_field(fields, "EffectiveBit Depth", path, default=container_bits)
    if not 1 <= effective <= 16:
        raise RecordingError(f"{path}: unknown effective bit depth {effective}")
    record_rate = _float_field(fields, "Record Rate(fps)", path)
    save_step = _int_field(fields, "Save Step", path, default=1)
    if record_rate <= 0 or save_step < 1:
        raise RecordingError(f"{path}: record rate {record_rate} Hz and save step {save_step} must be positive")
    header = PhotronHeader(
        width=_int_field(fields, "Image Width", path),
        height=_int_field(fields, "Image Height", path),
        n_frames=_int_field(fields, "Total Frame", path),
        record_rate=record_rate,
        save_step=save_step,
        bits=bits,
        effective_bits=min(effective, container_bits),
        effective_side=fields.get("EffectiveBit Side", "Lower").strip().lower(),
        colour=colour,
        fields=dict(fields),
    )
    if min(header.width, header.height, header.n_frames) < 1:
        raise RecordingError(
            f"{path}: header gives an empty recording "
            f"({header.n_frames} frames of {header.width}x{header.height} px)"
        )
    return header


def _int_field(fields: dict, key: str, path: Path, default: int | None = None) -> int:
    """An integer header field; RecordingError naming the field if missing or not a number."""
    value = _float_field(fields, key, path, default)
    if value != int(value):
        raise RecordingError(f"{path}: header field {key!r} = {fields[key]!r} is not a whole number")
    return int(value)


def _float_field(fields: dict, key: str, path: Path, default: float | None = None) -> float:
    """A numeric header field; RecordingError naming the field if missing or not a finite number."""
    if key not in fields or fields[key] == "":
        if default is None:
            raise RecordingError(f"{path}: header field {key!r} is missing")
        return default
    match = re.fullmatch(r"\s*([-+]?\d+(\.\d*)?([eE][-+]?\d+)?)\s*", fields[key])
    if match is None or not np.isfinite(float(match.group(1))):
        raise RecordingError(f"{path}: header field {key!r} = {fields[key]!r} is not a number")
    return float(match.group(1))


def find_mraw(header_path: Path) -> Path:
    """The .mraw file beside a header (same stem); RecordingNotFoundError if absent."""
    for suffix in (".mraw", ".MRAW"):
        candidate = header_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise RecordingNotFoundError(f"{header_path}: no .mraw file beside the header (expected {header_path.with_suffix('.mraw')})")


def find_header(mraw_path: Path) -> Path:
    """The .cih/.cihx header beside a .mraw file; RecordingNotFoundError if absent."""
    for suffix in (".cihx", ".cih", ".CIHX", ".CIH"):
        candidate = mraw_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise RecordingNotFoundError(f"{mraw_path}: no .cih or .cihx header beside the .mraw file")


def read_photron(path: str | os.PathLike, *, frame_rate=None, pixel_size=None):
    """Open a Photron recording lazily as a vibmag recording Dataset.

    Parameters
    ----------
    path : path-like
        The ``.cih``/``.cihx`` header or the ``.mraw`` file (the other is
        found beside it, with the same stem).
    frame_rate : str or pint.Quantity, optional
        Overrides the header's rate (record rate / save step).
    pixel_size : str or pint.Quantity, optional
        Size of one pixel on the object.

    Returns
    -------
    xarray.Dataset
        ``frames`` (time, y, x) or (time, y, x, channel), float32 in [0, 1],
        dask-backed; attrs from the header (``record_rate``, ``save_step``,
        ``camera``, ``header`` as JSON, ...).

    Raises
    ------
    RecordingNotFoundError, RecordingError
        Missing header or .mraw, a header that does not parse, or a .mraw
        whose size disagrees with the header (truncated or extra data).
    """
    path = Path(path)
    if path.suffix.lower() == ".mraw":
        header_path, mraw_path = find_header(path), path
    else:
        header_path = path
        mraw_path = find_mraw(path)
    header = read_photron_header(header_path)
    _check_mraw_size(mraw_path, header)
    frames = _lazy_frames(mraw_path, header)
    rate = frame_rate if frame_rate is not None else f"{header.frame_rate!r} Hz"
    attrs = {
        "format": "photron-mraw",
        "camera": header.fields.get("Camera Type", ""),
        "record_rate": f"{header.record_rate!r} Hz",
        "save_step": header.save_step,
        "frame_rate_source": "user" if frame_rate is not None else "header (record rate / save step)",
        "effective_bit_side": header.effective_side,
        "header": json.dumps(asdict(header)["fields"]),
    }
    return make_recording(
        frames,
        frame_rate=rate,
        pixel_size=pixel_size,
        bit_depth=header.effective_bits,
        source=str(header_path),
        attrs=attrs,
    )


def _check_mraw_size(mraw_path: Path, header: PhotronHeader) -> None:
    """Raise RecordingError if the .mraw size disagrees with the header."""
    expected = header.frame_bytes * header.n_frames
    actual = mraw_path.stat().st_size
    if actual < expected:
        whole = actual // header.frame_bytes
        raise RecordingError(
            f"{mraw_path}: truncated: {actual} bytes hold {whole} whole frames, "
            f"the header promises {header.n_frames} frames of {header.width}x{header.height} px "
            f"at {header.bits} bits ({expected} bytes)"
        )
    if actual > expected:
        raise RecordingError(
            f"{mraw_path}: the header disagrees with the file size: {header.n_frames} frames of "
            f"{header.width}x{header.height} px at {header.bits} bits are {expected} bytes, the file has {actual}"
        )


def _lazy_frames(mraw_path: Path, header: PhotronHeader) -> da.Array:
    """Map the .mraw and decode it lazily into integer counts, (time, y, x[, 3])."""
    shape = (header.height, header.width) + ((3,) if header.colour else ())
    raw_da = lazy_from_file(mraw_path, np.uint8, (header.n_frames, header.frame_bytes), time_chunk=lazy_time_chunks(shape))
    decode = _decoder(header)
    return raw_da.map_blocks(
        lambda block: decode(block).reshape((block.shape[0],) + shape),
        dtype=np.uint16 if header.bits_per_channel > 8 else np.uint8,
        chunks=(raw_da.chunks[0],) + tuple((n,) for n in shape),
        drop_axis=1,
        new_axis=tuple(range(1, 1 + len(shape))),
    )


def _decoder(header: PhotronHeader):
    """A function mapping raw bytes (n, frame_bytes) to counts (n, pixels) for this header."""
    bits = header.bits_per_channel
    if bits == 8:
        return np.asarray
    if bits == 12:
        return unpack_12bit
    shift = 16 - header.effective_bits if header.effective_side == "higher" else 0
    return lambda block: np.ascontiguousarray(block).view("<u2").astype(np.uint16) >> shift


def unpack_12bit(block: np.ndarray) -> np.ndarray:
    """Unpack 12-bit big-endian packed pixels (3 bytes -> 2 pixels).

    Parameters
    ----------
    block : ndarray of uint8, shape (n, 3 * k)

    Returns
    -------
    ndarray of uint16, shape (n, 2 * k)
        ``p0 = b0 << 4 | b1 >> 4`` and ``p1 = (b1 & 0xF) << 8 | b2``.
    """
    triples = np.asarray(block, dtype=np.uint16).reshape(block.shape[0], -1, 3)
    first = (triples[..., 0] << 4) | (triples[..., 1] >> 4)
    second = ((triples[..., 1] & 0x0F) << 8) | triples[..., 2]
    return np.stack([first, second], axis=-1).reshape(block.shape[0], -1)


def pack_12bit(counts: np.ndarray) -> bytes:
    """Pack 12-bit counts as Photron does (inverse of :func:`unpack_12bit`).

    Parameters
    ----------
    counts : integer ndarray, an even number of values in [0, 4095]

    Returns
    -------
    bytes
        Two pixels in three bytes, most significant bits first.
    """
    pairs = np.asarray(counts, dtype=np.uint16).reshape(-1, 2)
    packed = np.stack([pairs[:, 0] >> 4, ((pairs[:, 0] & 0x0F) << 4) | (pairs[:, 1] >> 8), pairs[:, 1] & 0xFF], axis=1)
    return packed.astype(np.uint8).tobytes()


def write_photron(path: str | os.PathLike, counts: np.ndarray, *, record_rate: float, bits: int, save_step: int = 1, effective_bits: int | None = None, effective_side: str = "lower", overwrite: bool = False) -> Path:
    """Write integer frames as a Photron ``.cih`` header and ``.mraw`` file.

    For exchanging recordings with tools that read Photron files, and for
    making test recordings with known counts.

    Parameters
    ----------
    path : path-like
        The ``.cih`` header to write; the ``.mraw`` goes beside it.
    counts : integer ndarray, shape (time, y, x) or (time, y, x, 3)
        Sensor counts (RGB for colour).
    record_rate : float
        Camera record rate in Hz.
    bits : {8, 12, 16, 24, 48}
        Bits per pixel in the file (12: packed; 24/48: RGB).
    save_step : int
        Only every ``save_step``-th recorded frame was saved.
    effective_bits : int, optional
        Sensor bits of 16-bit data (default 16).
    effective_side : {"lower", "higher"}
        Where the effective bits sit in a 16-bit word.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    pathlib.Path
        The header written.
    """
    header_path = Path(path).with_suffix(".cih")
    mraw_path = header_path.with_suffix(".mraw")
    if not overwrite and (header_path.exists() or mraw_path.exists()):
        raise OverwriteError(f"{header_path}: exists; pass overwrite=True to replace it")
    counts = np.asarray(counts)
    colour = counts.ndim == 4
    effective = effective_bits or (bits // 3 if colour else min(bits, 16))
    mraw_path.write_bytes(_mraw_payload(counts, bits, effective, effective_side))
    n_frames, height, width = counts.shape[:3]
    lines = [
        "#Camera Information Header",
        f"Record Rate(fps) : {record_rate:g}",
        f"Total Frame : {n_frames}",
        f"Save Step : {save_step}",
        f"Image Width : {width}",
        f"Image Height : {height}",
        f"Color Type : {'Color' if colour else 'Mono'}",
        f"Color Bit : {bits}",
        "File Format : MRaw",
        f"EffectiveBit Depth : {effective}",
        f"EffectiveBit Side : {effective_side.capitalize()}",
    ]
    header_path.write_text("\n".join(lines) + "\n")
    return header_path


def _mraw_payload(counts: np.ndarray, bits: int, effective: int, side: str) -> bytes:
    """The .mraw bytes of ``counts`` at ``bits`` per pixel."""
    if bits == 12:
        return pack_12bit(counts)
    if bits in (8, 24):
        return counts.astype(np.uint8).tobytes()
    words = counts.astype(np.uint16)
    if side.lower() == "higher":
        words = words << (16 - effective)
    return words.astype("<u2").tobytes()
