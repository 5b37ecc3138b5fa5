"""The scripts in examples/ run as documented (in a temporary folder) and write what they say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(args, cwd) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "MPLBACKEND": "Agg"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_every_example_is_listed_in_the_readme():
    readme = (EXAMPLES / "README.md").read_text()
    scripts = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".sh"))
    assert scripts and all(f"`{name}`" in readme for name in scripts)


def test_command_line(tmp_path):
    out = _run(["bash", str(EXAMPLES / "command_line.sh"), "out"], tmp_path)
    assert "capture rate: 150 Hz" in out
    assert {"magnified.mp4", "magnified.h5"} <= {p.name for p in (tmp_path / "out").iterdir()}
    assert (tmp_path / "out" / "analysis" / "peaks.csv").exists()


def test_quickstart(tmp_path):
    out = _run([sys.executable, str(EXAMPLES / "quickstart.py"), "-o", "out"], tmp_path)
    assert "peak" in out and {"spectrum.png", "magnified.mp4", "results.h5"} <= {p.name for p in (tmp_path / "out").iterdir()}


def test_measure_in_mm(tmp_path):
    """The script checks its numbers itself (exit status 1 when one is off); the printed ones are checked here too."""
    out = _run([sys.executable, str(EXAMPLES / "measure_in_mm.py")], tmp_path)
    assert "MAC" in out and "um" in out
    assert "every number within its tolerance of the truth" in out, out
    rms_um = float(re.search(r"displacement error: RMS ([\d.]+) um", out).group(1))
    assert rms_um < 1.0, out  # a fiftieth of a pixel of 0.05 mm
    half, half_true = map(float, re.search(r"middle of the plate: ([\d.]+) um half peak-to-peak \(true ([\d.]+)\)", out).groups())
    assert half == pytest.approx(half_true, rel=0.05), out
    peaks = re.findall(r"peak +([\d.]+) Hz \(true +([\d.]+)\): amplitude +([\d.]+) um \(true +([\d.]+)\), "
                       r"deflection shape MAC ([\d.]+)", out)
    assert len(peaks) == 2, out
    for f, f_true, a, a_true, similarity in (map(float, row) for row in peaks):
        assert abs(f - f_true) <= 0.1 and a == pytest.approx(a_true, rel=0.03) and similarity >= 0.99, out
    assert sorted(round(float(row[1])) for row in peaks) == [42, 155], out


def test_compare_methods(tmp_path):
    """Every method comes closer to the exact frames than the input and keeps the background within the noise."""
    out = _run([sys.executable, str(EXAMPLES / "compare_methods.py"), "-o", "out"], tmp_path)
    assert all(method in out for method in ("flowmag", "lagrangian", "linear", "phase"))
    assert (tmp_path / "out" / "flowmag.gif").exists()
    assert "every method within its targets" in out, out
    rows = {name: (float(error), float(wobble))
            for name, error, wobble in re.findall(r"^(input|flowmag|lagrangian|linear|phase) +([\d.]+) +([\d.]+)", out, re.M)}
    assert set(rows) == {"input", "flowmag", "lagrangian", "linear", "phase"}, out
    nothing = rows.pop("input")[0]
    for method, (error, wobble) in rows.items():
        gated = method in ("flowmag", "lagrangian")
        assert error < (0.8 if gated else 1.0) * nothing, (method, error, nothing)
        assert wobble < (0.001 if gated else 2 / 255), (method, wobble)


def test_adapt(tmp_path):
    out = _run([sys.executable, str(EXAMPLES / "adapt.py"), "--steps", "2", "-o", "out"], tmp_path)
    assert "step 2/2" in out and (tmp_path / "out" / "magnified.h5").exists()
