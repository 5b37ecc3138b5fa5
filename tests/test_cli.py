"""The vibmag command line, run in-process through its main()."""

import re

import numpy as np
import pytest

from vibmag import sample_data
from vibmag.cli import main
from vibmag.io.video import read_video


def test_info_prints_what_the_recording_holds(capsys):
    assert main(["info", str(sample_data.path("showcase_beams"))]) == 0
    out = capsys.readouterr().out
    for expected in ("frames:       75", "640 x 40 px", "capture rate: 150 Hz", "duration:     0.5 s", "bit depth:    8", "save_step:    100"):
        assert expected in out


def test_info_with_options(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros((10, 4, 6), np.uint16))
    assert main(["info", str(tmp_path / "a.npy"), "--frame-rate", "2 kHz", "--bit-depth", "12", "--pixel-size", "0.1 mm"]) == 0
    out = capsys.readouterr().out
    assert "duration:     0.005 s" in out and "pixel size:   0.1 mm" in out and "bit depth:    12" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "missing.cih"], "missing.cih: no such file"),
        (["info", "{beam}", "--frame-rate", "20 mm"], "is not a frequency"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    args = [a.format(beam=sample_data.path("showcase_beams")) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("vibmag info: error:") and err.count("\n") == 1


def test_demo_magnifies_the_beams_dominant_band(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    text = (tmp_path / "recording.txt").read_text()
    assert "capture rate: 150 Hz" in text
    # the beams' first bending mode, 17.2 Hz (about 8.6 periods in the 0.5 s waveform), is the band magnified,
    # not the larger drift peak at the first bins
    low, high = (float(v) for v in re.search(r"magnified: ([\d.]+) Hz - ([\d.]+) Hz by flowmag", text).groups())
    assert low < 17.2 < high < 25.0
    # that drift peak (below 2 Hz: under one period in the 0.5 s record, the step in x of the first frames) is
    # said to be no vibration; the bending mode is not
    rows = {round(float(m.group(1))): m.group(2) for m in re.finditer(r"^ +([\d.]+) Hz .*?SNR +[\d.]+(.*)$", text, re.M)}
    assert "a drift or step, not a vibration" in rows[min(rows)] and min(rows) < 2
    assert rows[17] == ""
    assert (tmp_path / "spectrum.png").read_bytes()[:4] == b"\x89PNG"
    video = read_video(tmp_path / "magnified.mp4", frame_rate="150 Hz")["frames"].values
    original = sample_data.open_sample("showcase_beams")["frames"].values
    # two panels of 40 x 640 px zoomed 2x, each under a text band, 8 px apart
    band = (video.shape[1] - 8 - 2 * 80) // 2
    assert video.shape[0] == 75 and video.shape[2] == 2 * 640 and band > 5
    top = video[:, band : band + 80 : 2, ::2]
    bottom = video[:, 2 * band + 88 :: 2, ::2]
    assert np.abs(top - original).mean() < 2 / 255  # the original panel, within codec tolerance
    assert np.abs(bottom - original).mean() > 2 * np.abs(top - original).mean()  # the magnified one moves more
    assert main(["demo", "-o", str(tmp_path)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_parse_band_and_region():
    import argparse

    from vibmag.cli import parse_band, parse_region

    assert parse_band("15Hz:35Hz") == ("15Hz", "35Hz")
    assert parse_band("900 rpm : 2100 rpm") == ("900 rpm", "2100 rpm")
    assert parse_region("box:0,10,20,40") == (0, 10, 20, 40)
    assert list(parse_region("polygon:0,0;0,10;10,5")) == [(0.0, 0.0), (0.0, 10.0), (10.0, 5.0)]
    for bad in ("15Hz", ":35Hz"):
        with pytest.raises(argparse.ArgumentTypeError, match="LOW:HIGH"):
            parse_band(bad)
    for bad in ("box:1,2,3", "circle:1,2,3", "polygon:0,0;1,1", "box:a,b,c,d"):
        with pytest.raises(argparse.ArgumentTypeError, match="box:y0,x0,y1,x1"):
            parse_region(bad)


@pytest.fixture(scope="module")
def plate_file(tmp_path_factory):
    import vibmag
    from vibmag.synthetic import Mode, vibrating_plate

    ds = vibrating_plate((48, 48), n_frames=64, frame_rate="400 Hz", modes=[Mode("60 Hz", 0.05, direction=90, shape="rigid")], speckle_size=4)
    path = tmp_path_factory.mktemp("cli") / "plate.h5"
    vibmag.save(ds, path)
    return path, ds


def test_magnify_to_hdf5_and_video(plate_file, tmp_path):
    import vibmag
    from vibmag.synthetic import render_magnified

    path, ds = plate_file
    out = tmp_path / "m.h5"
    assert main(["magnify", str(path), "-o", str(out), "--alpha", "8", "--band", "40Hz:80Hz", "--method", "lagrangian", "--region", "box:0,0,48,48"]) == 0
    result = vibmag.open_recording(out)
    exact = render_magnified(ds, 8.0, band=("40 Hz", "80 Hz"))["frames"].values
    middle = (slice(16, 48), slice(6, -6), slice(6, -6))
    error = np.sqrt(np.mean((result["frames"].values[middle] - exact[middle]) ** 2))
    before = np.sqrt(np.mean((ds["frames"].values[middle] - exact[middle]) ** 2))
    assert error < 0.2 * before and result.attrs["method"] == "lagrangian" and result.attrs["band"] == ["40Hz", "80Hz"]
    video = tmp_path / "m.gif"
    assert main(["magnify", str(path), "-o", str(video), "--alpha", "8", "--method", "linear", "--fps", "20"]) == 0
    frames = vibmag.open_recording(video, frame_rate="400 Hz")
    assert frames.sizes["time"] == 64 and frames.sizes["x"] > 2 * 48


def test_magnify_default_method_is_the_shipped_flowmag_scored_against_exact(plate_file, tmp_path):
    """No --method: the shipped weights, scored against the exact render (measured ratio 0.32; the Lagrangian
    warp's above is 0.04: flowmag resamples bilinearly, see tests/magnification/test_shipped_model.py)."""
    import vibmag
    from vibmag.synthetic import render_magnified

    path, ds = plate_file
    out = tmp_path / "f.h5"
    assert main(["magnify", str(path), "-o", str(out), "--alpha", "8", "--band", "40Hz:80Hz"]) == 0
    result = vibmag.open_recording(out)
    assert result.attrs["method"] == "flowmag" and result.attrs["model"].startswith("vibmag Magnifier flow")
    exact = render_magnified(ds, 8.0, band=("40 Hz", "80 Hz"))["frames"].values
    middle = (slice(16, 48), slice(6, -6), slice(6, -6))
    error = np.sqrt(np.mean((result["frames"].values[middle] - exact[middle]) ** 2))
    before = np.sqrt(np.mean((ds["frames"].values[middle] - exact[middle]) ** 2))
    assert error < 0.45 * before


def test_magnify_refuses_existing_output_and_bad_band(plate_file, tmp_path, capsys):
    path, _ = plate_file
    out = tmp_path / "m.h5"
    out.write_bytes(b"mine")
    assert main(["magnify", str(path), "-o", str(out), "--alpha", "8", "--method", "linear"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"mine"
    assert main(["magnify", str(path), "-o", str(tmp_path / "n.h5"), "--alpha", "8", "--band", "150Hz:250Hz", "--method", "linear"]) == 2
    assert "Nyquist" in capsys.readouterr().err and not (tmp_path / "n.h5").exists()
