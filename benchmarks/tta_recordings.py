"""Test-time adaptation on several held-out recordings, scored against their exact ground truth (issue 13).

Usage: python benchmarks/tta_recordings.py [--seconds 120] [--seeds 4321 1234 99 7]

For each ``tta_recording(seed)`` of benchmarks/magnification_quality.py (4 objects vibrating
sinusoidally 0.04-1 px over a still background, 12 frames at 100 Hz, noise 0.01; seed 4321 is the
one magnification_quality.py reports), the shipped model before and after ``vibmag.adapt`` (the
default objective, ``--seconds`` of adaptation), at alpha 10, frames 1..11 against frame 0:

* the DIS motion error (px; magnification_quality's measure: OpenCV DIS, not vibmag's estimator,
  between frame 0 and the output against DIS between frame 0 and the exact render);
* the field error (px): mean end-point error of the model's field against the recording's exact
  ``true_displacement`` (12 px borders left out);
* the image RMSE against the exact magnified render, in all, on the still background (more than
  3 px from any moving pixel), within 3 px of the outlines, and inside the objects.

Prints a markdown table; the figures are quoted in docs/model_card.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import magnification_quality as mq  # noqa: E402
import tta_targets as tt  # noqa: E402

from vibmag.magnification import adapt, load_model, resolve_flow  # noqa: E402
from vibmag.magnification.losses import flow_and_confidence  # noqa: E402
from vibmag.synthetic import render_magnified  # noqa: E402

ALPHA = tt.ALPHA


def regions(truth: np.ndarray) -> dict[str, np.ndarray]:
    """Masks (H, W) of the scored regions, from the (T, 2, H, W) exact displacement."""
    moving = np.abs(truth).max(axis=(0, 1)) > 0
    still = ~ndimage.binary_dilation(moving, iterations=3)
    outline = ~still & ~ndimage.binary_erosion(moving, iterations=3)
    inner = np.zeros_like(moving)
    inner[mq.BORDER:-mq.BORDER, mq.BORDER:-mq.BORDER] = True
    return {"all": inner, "still background": inner & still, "outlines +-3 px": inner & outline,
            "object interiors": inner & moving & ~outline}


def scores(model, ds, estimator) -> dict[str, float]:
    """DIS motion error, field error and image RMSE by region of ``model`` on recording ``ds``."""
    frames = ds["frames"].values.astype(np.float32)
    exact = render_magnified(ds, ALPHA)["frames"].values
    i0, its = torch.from_numpy(frames[0])[None, None], torch.from_numpy(frames[1:])[:, None]
    with torch.no_grad():
        flows, confidence = flow_and_confidence(estimator, i0, its)
    truth = ds["true_displacement"].values
    outputs = np.stack([mq.learned(model, frames[0], frames[t], ALPHA, estimator) for t in range(1, frames.shape[0])])
    error = outputs - exact[1:]
    out = {"DIS motion error": mq.recording_motion_error(model, ds, ALPHA, estimator),
           "field error": tt.field_error(tt.model_fields(model, i0, its, flows, confidence), torch.from_numpy(truth[1:]).float())}
    out.update({f"RMSE {name}": float(np.sqrt(np.mean(error[:, mask] ** 2))) for name, mask in regions(truth).items()})
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="adaptation time per recording (s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[4321, 1234, 99, 7])
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model, estimator = load_model(), resolve_flow(None)
    header = None
    for seed in args.seeds:
        ds = mq.tta_recording(seed=seed)
        adapted = adapt(model, ds, steps=100000, time_limit=args.seconds, estimator=estimator, seed=0)
        before, after = scores(model, ds, estimator), scores(adapted, ds, estimator)
        if header is None:
            header = list(before)
            print("| seed | steps | " + " | ".join(f"{k} before -> after" for k in header) + " |")
            print("|---" * (len(header) + 2) + "|")
        cells = [f"{before[k]:.4f} -> {after[k]:.4f} ({100 * (after[k] - before[k]) / before[k]:+.1f} %)" for k in header]
        print(f"| {seed} | {adapted.metadata['adapted_steps']} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
