"""The scripts in examples/ run as documented (in a temporary folder) and write what they say."""

from __future__ import annotations

import os
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
    out = _run([sys.executable, str(EXAMPLES / "measure_in_mm.py")], tmp_path)
    assert "MAC" in out and "um" in out


def test_compare_methods(tmp_path):
    out = _run([sys.executable, str(EXAMPLES / "compare_methods.py"), "-o", "out"], tmp_path)
    assert all(method in out for method in ("flowmag", "lagrangian", "linear", "phase"))
    assert (tmp_path / "out" / "flowmag.gif").exists()


def test_adapt(tmp_path):
    out = _run([sys.executable, str(EXAMPLES / "adapt.py"), "--steps", "2", "-o", "out"], tmp_path)
    assert "step 2/2" in out and (tmp_path / "out" / "magnified.h5").exists()
