"""Sub-pixel bias: the gain of each displacement estimator on exact rigid shifts, by speckle size (issue 14).

Usage: python benchmarks/subpixel_bias.py [--no-write]

A vibration amplitude is read off a displacement series, so an estimator that reads a 0.05 px shift
as 0.0506 px reports every small mode 1.2 % high, however long the recording. This script measures
that gain (mean measured x displacement / true shift) on noise-free speckle plates shifted rigidly
along x by 0.05 .. 0.4 px (``vibmag.synthetic.vibrating_plate``: a continuous speckle texture,
area-sampled 4 x 4 per pixel, so frame 1 is the exact translate of frame 0 and the shift is exact),
for speckle sizes of 2 to 6 px, 8-bit quantised as a camera delivers them. Means over the interior
(40 px from every edge) of 160 x 160 px frames; pyidi's over 100 points there.

Methods, in one run: vibmag's default estimator (as ``estimate_displacement`` runs it: presmooth 0.7 px,
interpolation-bias correction on), the same without the correction (also on the frames before
quantisation, which separates the bias from the quantisation's error) and without presmoothing, OpenCV
DIS (medium) and Farneback (benchmarks/flow_accuracy.py's settings), pyidi LK and DIC (31 px subsets).
Every shift is below half a pixel, where the classic interpolation bias ("S-curve", zero at 0 and
0.5 px) is a gain: the fine texture above what the pixel grid can represent shows up as a
derivative the interpolator does not see. Larger speckle, or optical blur, lowers it; vibmag's
correction (``vibmag.flow.bias``) measures it on the reference itself and removes it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flow_accuracy import frames_of, opencv_methods, vibmag_method  # noqa: E402
from pyidi_comparison import SUBSET, run_pyidi  # noqa: E402
from report import machine_line, markdown_table, update_section  # noqa: E402

SECTION = "Sub-pixel bias (issue 14)"
SPECKLES = (2.0, 3.0, 4.0, 6.0)
SHIFTS = (0.05, 0.1, 0.25, 0.4)
SIZE = 160
BORDER = 40
#: vibmag's estimator without the interpolation-bias correction (``LucasKanade(bias_correction=False)``).
UNCORRECTED = "vibmag uncorrected"
#: the uncorrected estimator on the same frames without 8-bit quantisation: what is bias and what is quantisation.
UNQUANTISED = "vibmag uncorrected, unquantised frames"


def shifted_plate(speckle: float, shift: float, bit_depth: int | None = 8):
    """Two frames of a speckle plate, frame 1 shifted by ``shift`` px along x (a rigid mode at its crest)."""
    from vibmag.synthetic import Mode, vibrating_plate

    mode = Mode("1 Hz", shift, direction=0.0, shape="rigid")
    return vibrating_plate((SIZE, SIZE), n_frames=2, frame_rate="4 Hz", modes=[mode], speckle_size=speckle, seed=1,
                           noise=0.0, bit_depth=bit_depth)


def interior_points(n: int = 10) -> np.ndarray:
    """(n*n, 2) integer (y, x) points on a grid over the interior."""
    line = np.rint(np.linspace(BORDER, SIZE - 1 - BORDER, n)).astype(int)
    ys, xs = np.meshgrid(line, line, indexing="ij")
    return np.stack([ys.ravel(), xs.ravel()], axis=1)


def dense_methods() -> list:
    return [vibmag_method("vibmag default"), vibmag_method(UNCORRECTED, bias_correction=False),
            vibmag_method(f"{UNCORRECTED}, presmooth=0", bias_correction=False, presmooth=0.0), *opencv_methods()]


def dense_gain(method, ds, shift: float) -> float:
    """Mean measured x displacement over the interior, over the true shift."""
    ref, moving = frames_of(ds)
    flow = method.track(method.prepare(ref), moving)
    return float(flow[0, BORDER:-BORDER, BORDER:-BORDER].mean() / shift)


def pyidi_gain(kind: str, ds, shift: float, workdir: str) -> float:
    frames = np.rint(ds["frames"].values * 255).astype(np.float64)
    displacement = run_pyidi(kind, frames, interior_points(), workdir, roi_size=(SUBSET, SUBSET))
    return float(displacement[1, 0].mean() / shift)


def measure() -> list[dict]:
    methods = dense_methods()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for speckle in SPECKLES:
            for shift in SHIFTS:
                ds = shifted_plate(speckle, shift)
                row = {"speckle": speckle, "shift": shift, **{m.name: dense_gain(m, ds, shift) for m in methods}}
                row[UNQUANTISED] = dense_gain(methods[1], shifted_plate(speckle, shift, bit_depth=None), shift)
                for kind in ("LK", "DIC"):
                    row[f"pyidi {kind}"] = pyidi_gain(kind, ds, shift, workdir)
                rows.append(row)
                print(row, flush=True)
    return rows


def report(rows: list[dict], command: str) -> str:
    names = [k for k in rows[0] if k not in ("speckle", "shift")]
    table = markdown_table(["speckle (px)", "shift (px)", *names],
                           [[r["speckle"], r["shift"], *[f"{r[n]:.4f}" for n in names]] for r in rows])
    worst = markdown_table(["speckle (px)", *names], [
        [speckle, *[f"{max(abs(r[n] - 1) for r in rows if r['speckle'] == speckle) * 100:.1f} %" for n in names]]
        for speckle in SPECKLES])
    return "\n".join([
        f"Produced by `{command}` on {machine_line()}. Gain = mean measured x displacement / true shift on "
        f"noise-free {SIZE} x {SIZE} px speckle plates shifted rigidly along x, 8-bit, interior {BORDER} px from every "
        f"edge (pyidi: 100 points there, {SUBSET} px subsets); scenes and methods in the docstring of "
        "benchmarks/subpixel_bias.py.", "", table, "", "Largest |gain - 1| over the shifts:", "", worst])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    body = report(measure(), "python benchmarks/subpixel_bias.py")
    print(body)
    if not args.no_write:
        print(update_section(SECTION, body))


if __name__ == "__main__":
    main()
