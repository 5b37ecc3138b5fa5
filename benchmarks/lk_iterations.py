"""Gauss-Newton steps per pyramid level of vibmag's Lucas-Kanade: speed against accuracy (issue 14).

Usage: python benchmarks/lk_iterations.py [--rounds 8]

For each ``iterations=`` setting (finest level first, the last value repeated):

* frames/s of ``track`` on 16 frames of a 512x512 plate, every setting timed in
  turn in each of ``--rounds`` rounds of one process (median and best), so a
  machine whose speed drifts slows every setting alike;
* RMS error (px) against the exact displacement on 256x256 speckle plates
  (benchmarks/flow_accuracy.py's ``plate``: one bending mode, 8 frames, noise
  0, 1 and 3/255, amplitudes 0.01-10 px, 16 px + amplitude borders left out);
* the same on rigid shifts of 6-20 px (``shifted_pair``, noise 1/255, 3 seeds,
  24 px borders) and on four objects moving 2-5 px or 0.1-0.5 px over a still
  background (``object_scene``, noise 0.01, 3 seeds, 8 px borders).

Prints a markdown table; nothing is written to the docs (docs/flow.md quotes it).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flow_accuracy as fa  # noqa: E402

from vibmag.flow import LucasKanade  # noqa: E402
from vibmag.synthetic import Mode, object_scene, vibrating_plate  # noqa: E402
from vibmag.synthetic.pair import shifted_pair  # noqa: E402

SETTINGS = ((1, 3), (1, 2, 3), (1, 2))
SHIFTS = ((6.3, -2.2), (12.7, 5.1), (20.4, -8.6))
OBJECT_MOTIONS = {"objects 2-5 px": [(2.0, 1.0), (-3.0, 0.5), (1.0, -4.0), (5.0, 2.0)],
                  "objects 0.1-0.5 px": [(0.3, 0.1), (-0.2, 0.4), (0.5, -0.5), (0.1, 0.2)]}


def rms(flow: np.ndarray, truth: np.ndarray, border: int) -> float:
    """RMS (px) of flow - truth over components and pixels, ``border`` px left out on every side."""
    return float(np.sqrt(np.mean((flow - truth)[..., border:-border, border:-border] ** 2)))


def measure(estimator: LucasKanade, frames: torch.Tensor) -> np.ndarray:
    """Flow (n - 1, 2, H, W) of frames[1:] against frames[0], (n, 1, H, W)."""
    with torch.no_grad():
        return estimator.track(estimator.prepare(frames[:1]), frames[1:]).numpy()


def as_tensor(ds) -> torch.Tensor:
    return torch.from_numpy(ds["frames"].values.astype(np.float32))[:, None]


def speed(estimators: dict, rounds: int) -> dict:
    """Frames/s (median, best) of each estimator on 16 frames of 512x512, timed in turn in every round."""
    frames = as_tensor(vibrating_plate((512, 512), n_frames=17, frame_rate="500 Hz", modes=[Mode("25 Hz", 0.1)],
                                       supersample=1, seed=1))
    prepared = {name: est.prepare(frames[:1]) for name, est in estimators.items()}
    rates = {name: [] for name in estimators}
    with torch.no_grad():
        for name, est in estimators.items():
            est.track(prepared[name], frames[1:])  # warm-up
        for _ in range(rounds):
            for name, est in estimators.items():
                start = time.perf_counter()
                est.track(prepared[name], frames[1:])
                rates[name].append(16 / (time.perf_counter() - start))
    return {name: (statistics.median(r), max(r)) for name, r in rates.items()}


def accuracy_rows(estimators: dict) -> list[tuple[str, list[float]]]:
    """(scene, RMS error of each estimator) for every scene of the module docstring."""
    rows = []
    for noise in (0.0, 1 / 255, 3 / 255):
        for amplitude in (0.01, 0.1, 1.0, 3.0, 10.0):
            ds = fa.plate(256, amplitude, noise, 8)
            truth, frames = ds["true_displacement"].values[1:], as_tensor(ds)
            border = 16 + math.ceil(amplitude)
            rows.append((f"plate, noise {noise * 255:.0f}/255, {amplitude:g} px",
                         [rms(measure(e, frames), truth, border) for e in estimators.values()]))
    for shift in SHIFTS:
        errors = []
        for seed in range(3):
            ref, moving, _ = shifted_pair((256, 256), shift, seed=seed, noise=1 / 255)
            frames = torch.from_numpy(np.stack([ref, moving]))[:, None]
            truth = np.array(shift, dtype=np.float32).reshape(1, 2, 1, 1)
            errors.append([rms(measure(e, frames), truth, 24) for e in estimators.values()])
        rows.append((f"rigid shift ({shift[0]:g}, {shift[1]:g}) px", list(np.mean(errors, 0))))
    for name, motion in OBJECT_MOTIONS.items():
        errors = []
        for seed in range(3):
            ds = object_scene((128, 128), n_frames=2, n_objects=4, motion=motion, noise=0.01, seed=seed)
            truth = ds["true_displacement"].values[1:]
            errors.append([rms(measure(e, as_tensor(ds)), truth, 8) for e in estimators.values()])
        rows.append((name, list(np.mean(errors, 0))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="timing rounds (every setting once per round)")
    args = parser.parse_args()
    estimators = {f"iterations={s}": LucasKanade(iterations=s) for s in SETTINGS}
    names = list(estimators)
    rates = speed(estimators, args.rounds)
    print("| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    print("| 512x512 frames/s, median (best) | " + " | ".join(f"{m:.1f} ({b:.1f})" for m, b in rates.values()) + " |")
    for scene, errors in accuracy_rows(estimators):
        print(f"| RMS error (px), {scene} | " + " | ".join(f"{e:.5f}" for e in errors) + " |", flush=True)


if __name__ == "__main__":
    main()
