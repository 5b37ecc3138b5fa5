"""Issue 15's table, row by row: every bad input gets vibmag's own one-line error, before any work, and nothing a user made is touched.

Each test names the row it covers. The CLI exits 2 with one line naming the
file or argument, in CLI terms; the API raises a VibmagError subclass with the
same message; a refusal writes nothing.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import time
import warnings

import h5py
import numpy as np
import pytest
import xarray as xr

import vibmag
from vibmag.batch.store import is_results_file
from vibmag.cli import main
from vibmag.errors import MagnifyError, OptionError, OutputError, OverwriteError, RecordingError, VibmagError, VibmagWarning
from vibmag.magnification import ModelFileError
from vibmag.synthetic import Mode, vibrating_plate


def one_line_error(capsys, command: str) -> str:
    """The CLI's stderr, checked to be one line ``vibmag COMMAND: error: ...``; returned."""
    err = capsys.readouterr().err
    assert err.startswith(f"vibmag {command}: error:") and err.count("\n") == 1, err
    return err


def digest(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def foreign_h5(path, frames, **attrs):
    """A foreign HDF5 recording: ``frames`` at /cam0/frames, attrs (frame_rate by default) on the dataset."""
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("cam0/frames", data=frames)
        for key, value in {"frame_rate": 500.0, **attrs}.items():
            dset.attrs[key] = value
    return path


@pytest.fixture(scope="module")
def plate():
    """A small rigid plate vibrating at 40 Hz, 0.3 px (float frames in [0, 1])."""
    return vibrating_plate((32, 32), n_frames=16, frame_rate="500 Hz", modes=[Mode("40 Hz", 0.3, shape="rigid")], speckle_size=3)


@pytest.fixture
def plate_h5(plate, tmp_path):
    """The plate saved as a vibmag recording."""
    return vibmag.save(plate[["frames"]], tmp_path / "plate.h5")


# --- HDF5 with a valid signature but truncated or corrupt ------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "zero-middle"])
def test_corrupt_or_truncated_hdf5_is_a_recording_error(tmp_path, capsys, damage):
    path = foreign_h5(tmp_path / "rec.h5", np.random.default_rng(0).integers(0, 255, (64, 32, 32), dtype=np.uint8))
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        raw[1000:3000] = bytes(2000)  # headers and B-tree after the superblock
    path.write_bytes(bytes(raw))
    before = digest(path)
    for args in (["info", str(path)], ["info", str(path), "--dataset", "/cam0/frames"], ["analyze", str(path), "-o", str(tmp_path / "out")]):
        code = main(args)
        if code == 0:  # the damage spared what this command reads: then the frames must read back intact
            continue
        assert code == 2
        err = one_line_error(capsys, args[0])
        assert "rec.h5" in err and "Traceback" not in err
    with pytest.raises(RecordingError, match=r"rec\.h5"):
        vibmag.open_recording(path, dataset="/cam0/frames")["frames"].values
    assert digest(path) == before and not (tmp_path / "out").exists()


# --- NaN frames --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["all", "one pixel"])
def test_nan_frames_are_refused_naming_file_and_frames(plate, tmp_path, capsys, where):
    frames = plate["frames"].values.copy()
    if where == "all":
        frames[:] = np.nan
        named = "frames 0-15 (16 of 16)"
    else:
        frames[3, 5, 7] = np.nan
        named = "frame 3 (1 of 16)"
    path = foreign_h5(tmp_path / "nan.h5", frames)
    with pytest.raises(RecordingError, match=rf"nan\.h5: \d+ NaN or infinite values in {re.escape(named)}") as info:
        vibmag.open_recording(path, dataset="/cam0/frames")
    message = str(info.value)
    assert main(["info", str(path), "--dataset", "/cam0/frames"]) == 2
    assert message in one_line_error(capsys, "info")
    out = tmp_path / "x.h5"
    assert main(["magnify", str(path), "--dataset", "/cam0/frames", "-o", str(out), "--alpha", "20", "--method", "linear"]) == 2
    assert message in one_line_error(capsys, "magnify") and not out.exists()
    video = tmp_path / "x.mp4"
    assert main(["magnify", str(path), "--dataset", "/cam0/frames", "-o", str(video), "--alpha", "20"]) == 2
    err = one_line_error(capsys, "magnify")
    assert message in err and "alpha" not in err.split("error:")[1] and not video.exists()
    assert main(["analyze", str(path), "--dataset", "/cam0/frames", "-o", str(tmp_path / "a")]) == 2
    assert message in one_line_error(capsys, "analyze") and not (tmp_path / "a").exists()


def test_magnify_refuses_a_hand_made_dataset_with_nan(plate):
    ds = plate[["frames"]].copy(deep=True)
    ds["frames"].values[2, 0, 0] = np.inf
    with pytest.raises(MagnifyError, match=r"NaN or infinite values in frame 2 \(1 of 16\)"):
        vibmag.magnify(ds, 5, method="lagrangian")


# --- float frames outside [0, 1]; int64 frames with negative values ----------------------------------------------------


def test_float_frames_outside_0_1_are_refused(plate, tmp_path, capsys):
    path = foreign_h5(tmp_path / "bright.h5", plate["frames"].values * 300.0)
    assert main(["info", str(path), "--dataset", "/cam0/frames"]) == 2
    err = one_line_error(capsys, "info")
    assert "bright.h5: float frames are read as intensities in [0, 1]" in err and "frames 0-15" in err
    with pytest.raises(RecordingError, match=r"range from .* to .*; rescale them to \[0, 1\]"):
        vibmag.open_recording(np.full((3, 4, 4), -0.5), frame_rate="1 kHz")


def test_negative_int64_counts_are_refused(tmp_path, capsys):
    counts = np.zeros((6, 8, 8), np.int64)
    counts[4, 1, 1] = -7
    path = foreign_h5(tmp_path / "signed.h5", counts)
    assert main(["info", str(path), "--dataset", "/cam0/frames"]) == 2
    assert "signed.h5: negative counts (down to -7) in int64 data, frame 4 (1 of 6)" in one_line_error(capsys, "info")


def test_int64_counts_are_scaled_by_their_bit_depth_and_measure_the_true_motion(tmp_path):
    """Policy: integers wider than 16 bits with no stated bit depth are scaled by their maximum's bit depth."""
    ds12 = vibrating_plate((32, 32), n_frames=32, frame_rate="500 Hz", modes=[Mode("40 Hz", 0.3, shape="rigid")], bit_depth=12)
    counts = np.rint(ds12["frames"].values * 4095).astype(np.int64)
    assert counts.max() >= 2048  # so the 12 bits are what the data's maximum needs
    wide = vibmag.open_recording(foreign_h5(tmp_path / "wide.h5", counts), dataset="/cam0/frames")
    assert wide.attrs["bit_depth"] == 12
    np.testing.assert_allclose(wide["frames"].values, ds12["frames"].values, atol=1e-6)
    disp = vibmag.estimate_displacement(wide, progress=False)
    truth = ds12["true_displacement"]
    inner = dict(y=slice(6, -6), x=slice(6, -6))
    assert float(np.abs(disp.isel(**inner) - truth.isel(**inner).values).mean()) < 0.05  # px, not 3e-9 px
    assert float(np.abs(truth).max()) > 0.25


# --- pixel size <= 0; frame rate <= 0 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value"), [("--pixel-size", "-3 mm"), ("--pixel-size", "0 mm"), ("--frame-rate", "0 Hz"), ("--frame-rate", "-2 kHz")])
def test_pixel_size_and_frame_rate_must_be_positive(plate_h5, capsys, option, value):
    assert main(["info", str(plate_h5), option, value]) == 2
    what = "pixel size" if option == "--pixel-size" else "frame rate"
    assert f"{what} must be positive, got '{value}'" in one_line_error(capsys, "info")
    with pytest.raises(RecordingError, match=f"{what} must be positive"):
        vibmag.open_recording(plate_h5, **{option[2:].replace("-", "_"): value})


# --- magnify --alpha 1e6 -----------------------------------------------------------------------------------------------


def test_huge_alpha_warns_after_measuring_the_motion(plate_h5, tmp_path):
    out = tmp_path / "m.h5"
    with pytest.warns(VibmagWarning, match=r"alpha 1e\+06 times the measured motion .* more than a quarter of the frame \(8 px\)"):
        assert main(["magnify", str(plate_h5), "-o", str(out), "--alpha", "1e6"]) == 0
    assert out.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sensible alpha: 5 x 0.3 px is far below 8 px, no warning
        vibmag.magnify(vibmag.open_recording(plate_h5), 5, method="lagrangian")


# --- output with an unsupported suffix ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.avi", "out", "out.cih"])
def test_unsupported_output_suffix_is_refused_before_any_work(tmp_path, capsys, name, plate, monkeypatch):
    output = tmp_path / name
    # the input does not even exist: the output is refused first, so nothing was opened or computed
    assert main(["magnify", str(tmp_path / "missing.h5"), "-o", str(output), "--alpha", "5"]) == 2
    err = one_line_error(capsys, "magnify")
    assert f"{output}: the --output has" in err and "vibmag writes .mp4 or .gif or .h5 or .hdf5 here" in err
    monkeypatch.setattr("vibmag.pipeline.clip.magnify", lambda *a, **k: pytest.fail("magnified before checking the output"))
    with pytest.raises(OutputError, match="vibmag writes .mp4 or .gif here"):
        vibmag.pipeline.write_magnified_clip(plate, output, 5)
    assert not output.exists()


# --- analyze -o <existing file>, demo --output <existing file> ---------------------------------------------------------


def test_output_folder_that_is_a_file(plate_h5, tmp_path, capsys):
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    assert main(["analyze", str(plate_h5), "-o", str(mine)]) == 2
    assert f"{mine}: is a file, not a folder" in one_line_error(capsys, "analyze")
    assert main(["demo", "--output", str(mine)]) == 2
    assert f"{mine}: is a file, not a folder" in one_line_error(capsys, "demo")
    assert mine.read_text() == "mine"


# --- analyze --overwrite refusing: no partial output -------------------------------------------------------------------


def test_analyze_refusal_leaves_no_partial_output(plate, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    source = vibmag.save(plate[["frames"]], folder / "analysis.h5")  # the input is where analysis.h5 would go
    before = digest(source)
    assert main(["analyze", str(source), "-o", str(folder), "--overwrite"]) == 2
    assert "is an input recording" in one_line_error(capsys, "analyze")
    assert sorted(p.name for p in folder.iterdir()) == ["analysis.h5"] and digest(source) == before
    # an existing file of another kind where a PNG goes is not replaced either
    other = tmp_path / "other"
    other.mkdir()
    (other / "spectrum.png").write_text("my notes")
    assert main(["analyze", str(tmp_path / "out" / "analysis.h5"), "-o", str(other), "--overwrite"]) == 2
    assert "spectrum.png: exists and is not a PNG image file" in one_line_error(capsys, "analyze")
    assert sorted(p.name for p in other.iterdir()) == ["spectrum.png"]


# --- batch -o rec/pump.h5 (an input, or any vibmag recording) ----------------------------------------------------------


@pytest.mark.parametrize("overwrite", [False, True])
def test_batch_never_writes_into_a_recording(plate, tmp_path, capsys, overwrite):
    rec = tmp_path / "rec"
    rec.mkdir()
    for name in ("pump", "fan", "motor", "belt"):
        vibmag.save(plate[["frames"]], rec / f"{name}.h5")
    hashes = {p.name: digest(p) for p in rec.iterdir()}
    extra = ["--overwrite"] if overwrite else []
    assert main(["batch", str(rec / "*.h5"), "-o", str(rec / "pump.h5"), *extra]) == 2
    assert "pump.h5: is a vibmag recording or result, not a batch results file" in one_line_error(capsys, "batch")
    assert {p.name: digest(p) for p in rec.iterdir()} == hashes  # nothing added, no log, no lock, no parts


def test_batch_refuses_its_results_file_named_as_an_input(tmp_path, capsys, plate):
    results = tmp_path / "results.h5"
    vibmag.save(plate[["frames"]], tmp_path / "a.h5")
    vibmag.save(xr.Dataset(attrs={"status": "complete"}), results, group="old")  # a results file of an earlier batch
    assert is_results_file(results)
    assert main(["batch", str(tmp_path / "a.h5"), str(results), "-o", str(results)]) == 2
    assert "results.h5: is the results file (--output)" in one_line_error(capsys, "batch")


# --- 2 frames (or 1) to analyze ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_frames", [1, 2, 3])
def test_analyze_needs_frames_for_a_spectrum(plate, tmp_path, capsys, n_frames):
    path = vibmag.save(plate[["frames"]].isel(time=slice(0, n_frames)), tmp_path / "short.h5")
    assert main(["analyze", str(path), "-o", str(tmp_path / "out")]) == 2
    err = one_line_error(capsys, "analyze")
    assert f"short.h5: {n_frames} frame{'s' if n_frames > 1 else ''}; a spectrum needs at least 4" in err
    assert not (tmp_path / "out").exists()


# --- S1 string frames --------------------------------------------------------------------------------------------------


def test_string_frames_name_their_own_shape(tmp_path, capsys):
    path = tmp_path / "text.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("frames", data=np.full((10, 4, 4), b"a", dtype="S1")).attrs["frame_rate"] = 100.0
    assert main(["info", str(path), "--dataset", "/frames"]) == 2
    err = one_line_error(capsys, "info")
    assert "shape (10, 4, 4)" in err and "(10, 4)" not in err.replace("(10, 4, 4)", "")


# --- foreign HDF5 without --dataset ------------------------------------------------------------------------------------


def test_foreign_hdf5_hint_is_in_cli_terms(plate, tmp_path, capsys):
    path = foreign_h5(tmp_path / "cam.h5", plate["frames"].values)
    assert main(["info", str(path)]) == 2
    err = one_line_error(capsys, "info")
    assert "pass --dataset with the path of its frames dataset (candidates: /cam0/frames)" in err and "dataset=" not in err
    with pytest.raises(RecordingError, match="pass dataset= with the path"):  # the API keeps its own spelling
        vibmag.open_recording(path)


# --- train --resume evil.pt, --pool-cache evil.pkl ---------------------------------------------------------------------


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file if ever unpickled


def test_train_refuses_evil_resume_and_pool_cache_at_once(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil_pt, evil_pkl = tmp_path / "evil.pt", tmp_path / "evil.pkl"
    evil_pt.write_bytes(pickle.dumps({"format": _Evil(marker)}))
    evil_pkl.write_bytes(pickle.dumps(_Evil(marker)))
    out = tmp_path / "run"
    start = time.perf_counter()
    assert main(["train", "--output-dir", str(out), "--resume", str(evil_pt)]) == 2
    err = one_line_error(capsys, "train")
    assert "evil.pt: not a vibmag checkpoint: it holds pickled Python objects" in err and "weights_only" not in err
    assert main(["train", "--output-dir", str(out), "--pool-cache", str(evil_pkl)]) == 2
    err = one_line_error(capsys, "train")
    assert "evil.pkl: not a training-pair cache vibmag wrote (--pool-cache)" in err and "Traceback" not in err
    assert time.perf_counter() - start < 30  # refused before any work (it took 92 s)
    assert not out.exists() and not marker.exists()


# --- load_model on raw pickles -----------------------------------------------------------------------------------------


def test_load_model_on_raw_pickles_leaks_no_warning(tmp_path):
    marker = tmp_path / "pwned"
    for protocol in (2, 4, 5):
        path = tmp_path / f"raw{protocol}.pt"
        path.write_bytes(pickle.dumps({"format": _Evil(marker)}, protocol=protocol))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ModelFileError, match=rf"raw{protocol}\.pt: not a vibmag magnifier weights file: it holds pickled Python objects"):
                vibmag.load_model(path)
        assert [str(w.message) for w in caught] == []
    assert not marker.exists()


# --- misspelt keyword to estimate_displacement -------------------------------------------------------------------------


def test_misspelt_flow_option_is_named_with_a_suggestion(plate):
    with pytest.raises(OptionError, match=r"unknown option 'windw' \(did you mean 'window'\?\) for flow method 'lucas-kanade'; its options are window, ") as info:
        vibmag.estimate_displacement(plate, windw=6, progress=False)
    assert isinstance(info.value, VibmagError) and isinstance(info.value, TypeError)
    with pytest.raises(OptionError, match=r"unknown options 'levls' \(did you mean 'levels'\?\), 'zzz'"):
        vibmag.flow.get_estimator(None, levls=2, zzz=1)


# --- inputs are opened read-only ---------------------------------------------------------------------------------------


def test_read_only_inputs_open_and_stay_unchanged(plate, tmp_path):
    own = vibmag.save(plate[["frames"]], tmp_path / "own.h5")
    foreign = foreign_h5(tmp_path / "foreign.h5", plate["frames"].values)
    np.save(tmp_path / "a.npy", (plate["frames"].values * 255).astype(np.uint8))
    paths = [(own, {}), (foreign, {"dataset": "/cam0/frames"}), (tmp_path / "a.npy", {"frame_rate": "500 Hz"})]
    for path, kwargs in paths:
        os.chmod(path, 0o444)
        before = digest(path)
        ds = vibmag.open_recording(path, **kwargs)
        np.testing.assert_allclose(ds["frames"].values, plate["frames"].values, atol=1 / 255)
        assert digest(path) == before


# --- outputs: a recording a user saved is never replaced, even with --overwrite ---------------------------------------


def test_overwrite_never_replaces_a_saved_recording(plate, plate_h5, tmp_path, capsys):
    theirs = vibmag.save(plate[["frames"]], tmp_path / "theirs.h5")  # a recording, not an input of this run
    before = digest(theirs)
    assert main(["magnify", str(plate_h5), "-o", str(theirs), "--alpha", "3", "--method", "lagrangian", "--overwrite"]) == 2
    assert "theirs.h5: exists and holds a recording (not a vibmag result)" in one_line_error(capsys, "magnify")
    assert digest(theirs) == before
    result = tmp_path / "result.h5"  # an earlier magnification result may be replaced
    assert main(["magnify", str(plate_h5), "-o", str(result), "--alpha", "3", "--method", "lagrangian"]) == 0
    assert main(["magnify", str(plate_h5), "-o", str(result), "--alpha", "4", "--method", "lagrangian", "--overwrite"]) == 0
    assert vibmag.open_recording(result).attrs["alpha"] == 4.0
