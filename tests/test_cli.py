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
