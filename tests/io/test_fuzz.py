"""Property-based: corrupted headers and truncated files raise vibmag's own errors, nothing else."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vibmag
from vibmag import sample_data
from vibmag.errors import VibmagError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def open_or_vibmag_error(path, **kwargs):
    """Open and read every frame; return the Dataset, or None if vibmag refused with its own error."""
    try:
        ds = vibmag.open_recording(path, **kwargs)
        ds["frames"].values  # decoding must not crash either
        return ds
    except VibmagError:
        return None


def copy_pair(tmp_path, name, suffix):
    header = sample_data.path(name)
    dest = tmp_path / f"rec{suffix}"
    dest.write_bytes(header.read_bytes())
    (tmp_path / "rec.mraw").write_bytes(header.with_suffix(".mraw").read_bytes())
    return dest


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize(("name", "suffix"), [("showcase_beams", ".cih"), ("speckle_beam", ".cihx")])
def test_corrupted_header_bytes(tmp_path, name, suffix, data):
    header = copy_pair(tmp_path, name, suffix)
    raw = bytearray(header.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    header.write_bytes(bytes(raw))
    open_or_vibmag_error(header)


@FUZZ
@given(line=st.sampled_from(["Record Rate(fps)", "Total Frame", "Image Width", "Image Height", "Color Bit", "Save Step", "EffectiveBit Depth", "Color Type"]), value=st.text(max_size=12))
def test_corrupted_header_values(tmp_path, line, value):
    header = copy_pair(tmp_path, "showcase_beams", ".cih")
    lines = [f"{line} : {value}" if row.startswith(line + " :") else row for row in header.read_text("latin-1").splitlines()]
    header.write_text("\n".join(lines), "latin-1", errors="replace")
    ds = open_or_vibmag_error(header)
    if ds is not None:
        assert ds["frames"].dtype == np.float32 and ds.sizes["time"] >= 1


@FUZZ
@given(keep=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_mraw(tmp_path, keep):
    header = copy_pair(tmp_path, "ball", ".cihx")
    mraw = tmp_path / "rec.mraw"
    raw = mraw.read_bytes()
    mraw.write_bytes(raw[: int(len(raw) * keep)])
    assert open_or_vibmag_error(header) is None


@FUZZ
@given(payload=st.binary(max_size=300), suffix=st.sampled_from([".h5", ".npy", ".cih", ".cihx"]))
def test_random_bytes_in_any_format(tmp_path, payload, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(payload)
    (tmp_path / "junk.mraw").write_bytes(payload)
    assert open_or_vibmag_error(path, frame_rate="1 kHz") is None
