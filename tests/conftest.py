"""Shared test helpers: writers of small Photron recordings with known content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def pack_12bit(counts: np.ndarray) -> bytes:
    """Pack 12-bit counts (even number per frame) as Photron does: 2 pixels in 3 bytes, MSB first."""
    flat = counts.astype(np.uint16).reshape(-1, 2)
    b0 = flat[:, 0] >> 4
    b1 = ((flat[:, 0] & 0x0F) << 4) | (flat[:, 1] >> 8)
    b2 = flat[:, 1] & 0xFF
    return np.stack([b0, b1, b2], axis=1).astype(np.uint8).tobytes()


def cih_text(*, n_frames, height, width, bits, record_rate=1000, save_step=1, effective=None, side="Lower", colour=False) -> str:
    """The text of a minimal .cih header."""
    return "\n".join(
        [
            "#Camera Information Header",
            "Camera Type : FASTCAM test",
            f"Record Rate(fps) : {record_rate}",
            f"Total Frame : {n_frames}",
            f"Save Step : {save_step}",
            f"Image Width : {width}",
            f"Image Height : {height}",
            f"Color Type : {'Color' if colour else 'Mono'}",
            f"Color Bit : {bits}",
            "File Format : MRaw",
            f"EffectiveBit Depth : {effective or min(bits, 16)}",
            f"EffectiveBit Side : {side}",
            "",
        ]
    )


def write_photron(folder: Path, counts: np.ndarray, *, bits: int, name="rec", side="Lower", effective=None, **header) -> Path:
    """Write ``counts`` (time, y, x) as a .cih + .mraw pair; return the header path."""
    n_frames, height, width = counts.shape[:3]
    colour = counts.ndim == 4
    if bits == 12:
        payload = pack_12bit(counts)
    elif bits in (8, 24):
        payload = counts.astype(np.uint8).tobytes()
    else:
        stored = counts.astype(np.uint16) << (16 - (effective or 16)) if side == "Higher" else counts.astype(np.uint16)
        payload = stored.astype("<u2").tobytes()
    (folder / f"{name}.mraw").write_bytes(payload)
    header_path = folder / f"{name}.cih"
    header_path.write_text(cih_text(n_frames=n_frames, height=height, width=width, bits=bits, effective=effective, side=side, colour=colour, **header))
    return header_path


@pytest.fixture
def photron_writer(tmp_path):
    """A function writing a Photron recording into tmp_path (see :func:`write_photron`)."""
    return lambda counts, **kw: write_photron(tmp_path, counts, **kw)
