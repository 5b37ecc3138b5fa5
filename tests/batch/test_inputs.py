"""Batch inputs: files, folders and globs; recordings in a file (dataset patterns); their names."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import vibmag
from vibmag.batch import SettingsError, expand_inputs, parse_settings
from vibmag.batch.inputs import Recording, RecordingProblem, file_names, inspect_file
from vibmag.errors import RecordingError


def touch_h5(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w"):
        pass
    return path


def test_files_folders_and_globs_expand_to_hdf5_files_once(tmp_path):
    a, b = touch_h5(tmp_path / "a.h5"), touch_h5(tmp_path / "b.hdf5")
    sub = touch_h5(tmp_path / "sub" / "c.h5")
    (tmp_path / "notes.txt").write_text("not a recording")
    assert expand_inputs(tmp_path) == [a, b]
    assert expand_inputs([str(tmp_path / "**" / "*.h5"), a]) == [a, sub]
    assert expand_inputs([tmp_path], exclude=[a]) == [b]


@pytest.mark.parametrize(
    ("item", "message"),
    [("missing.h5", "no such file, folder or pattern"), ("*.hdf", "matches no .h5/.hdf5 file"), ("notes.txt", "batch inputs are HDF5 files"),
     ("empty", "holds no .h5/.hdf5 file")],
)
def test_bad_inputs_stop_before_anything_runs(tmp_path, item, message):
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SettingsError, match=message):
        expand_inputs([str(tmp_path / item)])


def test_names_are_stems_qualified_by_folders_only_where_they_collide(tmp_path):
    files = [tmp_path / "day1" / "m1.h5", tmp_path / "day2" / "m1.h5", tmp_path / "day2" / "m 2.h5"]
    assert list(file_names(files).values()) == ["day1.m1", "day2.m1", "m_2"]


def write_cameras(path: Path, rates=(500.0, 500.0)) -> Path:
    with h5py.File(path, "w") as f:
        for index, rate in enumerate(rates):
            frames = f.create_dataset(f"cam{index}/frames", data=np.zeros((8, 6, 5), np.uint16))
            if rate is not None:
                frames.attrs["frame_rate"] = rate
        f.create_dataset("cam0/timestamps", data=np.arange(8.0))
    return path


def test_a_pattern_finds_one_recording_per_camera(tmp_path):
    path = write_cameras(tmp_path / "m1.h5", rates=(500.0, None))
    found = inspect_file(str(path), "m1", parse_settings({"input": {"dataset": "/*/frames"}}).input)
    assert [type(item) for item in found] == [Recording, RecordingProblem]
    assert [(item.name, item.dataset) for item in found] == [("m1.cam0.frames", "/cam0/frames"), ("m1.cam1.frames", "/cam1/frames")]
    assert found[0].shape == (8, 6, 5) and found[0].frame_rate == "500 Hz"
    assert "no frame-rate attribute" in found[1].error
    # the options supply what the file lacks; an exact path names the recording by its file alone
    exact = inspect_file(str(path), "m1", parse_settings({"input": {"dataset": "/cam1/frames", "frame_rate": "1 kHz"}}).input)
    assert [(item.name, item.frame_rate) for item in exact] == [("m1", "1000 Hz")]


def test_a_vibmag_file_holds_its_recordings_at_the_root_or_in_groups(tmp_path):
    ds = vibmag.open_recording(np.zeros((6, 4, 4), np.uint8), frame_rate="100 Hz")
    vibmag.save(ds, tmp_path / "root.h5")
    vibmag.save(ds, tmp_path / "groups.h5", group="left")
    vibmag.save(ds, tmp_path / "groups.h5", group="right")
    options = parse_settings({}).input
    assert [(r.name, r.dataset) for r in inspect_file(str(tmp_path / "root.h5"), "root", options)] == [("root", None)]
    assert [(r.name, r.dataset) for r in inspect_file(str(tmp_path / "groups.h5"), "g", options)] == [("g.left", "/left"), ("g.right", "/right")]


@pytest.mark.parametrize(
    ("content", "pattern", "message"),
    [
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, "/*/frames", "cannot read the HDF5 file, it may be truncated or corrupt"),
        (b"plain text", "/*/frames", "not an HDF5 file"),
        (None, None, "not a vibmag file; set input.dataset (or --dataset) to the path of its frames, e.g. '/*/frames' (candidates: /cam0/frames, /cam1/frames)"),
        (None, "/*/images", "no dataset matches '/*/images' (candidates: /cam0/frames, /cam1/frames)"),
    ],
)
def test_unusable_files_raise_naming_the_file(tmp_path, content, pattern, message):
    path = tmp_path / "bad.h5"
    if content is None:
        write_cameras(path)
    else:
        path.write_bytes(content)
    with pytest.raises(RecordingError) as info:
        inspect_file(str(path), "bad", parse_settings({"input": {"dataset": pattern}} if pattern else {}).input)
    assert message in str(info.value) and str(path) in str(info.value)
