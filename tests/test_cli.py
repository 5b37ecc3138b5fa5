"""The vibmag command line, run in-process through its main()."""

import numpy as np
import pytest

from vibmag import sample_data
from vibmag.cli import main


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


def test_demo_writes_outputs_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    assert "capture rate: 150 Hz" in (tmp_path / "recording.txt").read_text()
    assert (tmp_path / "overview.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["demo", "-o", str(tmp_path)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_parse_band_and_region():
    import argparse

    from vibmag.cli import parse_band, parse_region

    assert parse_band("15Hz:35Hz") == ("15Hz", "35Hz")
    assert parse_band("900 rpm : 2100 rpm") == ("900 rpm", "2100 rpm")
    assert parse_region("box:0,10,20,40") == (0, 10, 20, 40)
    assert parse_region("polygon:0,0;0,10;10,5") == [(0.0, 0.0), (0.0, 10.0), (10.0, 5.0)]
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


def test_magnify_refuses_existing_output_and_bad_band(plate_file, tmp_path, capsys):
    path, _ = plate_file
    out = tmp_path / "m.h5"
    out.write_bytes(b"mine")
    assert main(["magnify", str(path), "-o", str(out), "--alpha", "8", "--method", "linear"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"mine"
    assert main(["magnify", str(path), "-o", str(tmp_path / "n.h5"), "--alpha", "8", "--band", "150Hz:250Hz", "--method", "linear"]) == 2
    assert "Nyquist" in capsys.readouterr().err and not (tmp_path / "n.h5").exists()
