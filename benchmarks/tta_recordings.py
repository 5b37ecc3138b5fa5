"""Test-time adaptation on several held-out recordings, scored against their exact ground truth (issue 13).

Usage: python benchmarks/tta_recordings.py [--seconds 120] [--seeds 4321 1234 99 7]
       python benchmarks/tta_recordings.py --trace [--trace-seeds 4321 1234] [--trace-steps 0 250 ...]

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

``--trace``: the adaptation loss and the errors against the exact ground truth over the
steps, so that they can be seen to fall together. For each step count N of ``--trace-steps``,
``adapt(..., steps=N, time_limit=None)`` from the shipped model (steps are seeded one by one,
so a run of N steps is the first N steps of a longer one), then: the harmonic loss on the whole
recording (every frame, uncropped, alpha 4 = the target's, against the target made once from
the unadapted model: adaptation trains on the recording itself, so there is no held-out
loss), the field error and the DIS motion error. Prints a table and writes
docs/images/tta_trace.png.
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
from report import save_figure  # noqa: E402
import tta_targets as tt  # noqa: E402

from vibmag.magnification import adapt, load_model, resolve_flow  # noqa: E402
from vibmag.magnification.adapt import _harmonic_target  # noqa: E402
from vibmag.magnification.losses import flow_and_confidence  # noqa: E402
from vibmag.magnification.train import target_loss  # noqa: E402
from vibmag.synthetic import render_magnified  # noqa: E402

ALPHA = tt.ALPHA
ROOT = Path(__file__).resolve().parents[1]
TRACE_STEPS = (0, 250, 500, 1000, 2000, 3300)  # 3300: about what 2 min buys on this machine


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


def recording_loss(model, i0, its, flows, confidence, target) -> float:
    """The harmonic adaptation loss (px) on every frame of the recording, uncropped, at the target's alpha."""
    alpha = torch.full((its.shape[0], 1, 1, 1), float(np.sqrt(TARGET_RANGE[0] * TARGET_RANGE[1])))
    with torch.no_grad():
        return float(target_loss(model.eval(), (i0.expand_as(its), its, flows, confidence, target, alpha)))


#: adapt's default alpha_range: its target is the model's field at the range's geometric-mean alpha (4).
TARGET_RANGE = (1.0, 16.0)


def trace(seed: int, steps: list[int], model, estimator) -> list[dict]:
    """Adaptation loss, field error and DIS motion error after each step count on ``tta_recording(seed)``."""
    ds = mq.tta_recording(seed=seed)
    frames = ds["frames"].values.astype(np.float32)
    i0, its = torch.from_numpy(frames[0])[None, None], torch.from_numpy(frames[1:])[:, None]
    with torch.no_grad():
        flows, confidence = flow_and_confidence(estimator, i0, its)
    target = _harmonic_target(model, i0, its, flows, confidence, np.arange(1, frames.shape[0]), TARGET_RANGE)
    truth = torch.from_numpy(ds["true_displacement"].values[1:]).float()
    rows = []
    for n in steps:
        adapted = adapt(model, ds, steps=n, time_limit=None, estimator=estimator, seed=0)
        rows.append({"seed": seed, "steps": n, "loss": recording_loss(adapted, i0, its, flows, confidence, target),
                     "field error": tt.field_error(tt.model_fields(adapted, i0, its, flows, confidence), truth),
                     "DIS motion error": mq.recording_motion_error(adapted, ds, ALPHA, estimator)})
        print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in rows[-1].values()) + " |",
              flush=True)
    return rows


def plot_trace(rows: list[dict], path: Path) -> Path:
    """Each seed's loss and errors against the truth, relative to step 0, over the steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for seed, colour in zip(sorted({r["seed"] for r in rows}), ["C0", "C1", "C2", "C3"]):
        mine = [r for r in rows if r["seed"] == seed]
        steps = [r["steps"] for r in mine]
        for key, style in (("loss", "o-"), ("field error", "s--"), ("DIS motion error", "^:")):
            values = np.array([r[key] for r in mine])
            ax.plot(steps, values / values[0], style, color=colour, ms=4, label=f"seed {seed}: {key}")
    ax.set(xlabel="adaptation step", ylabel="relative to the unadapted model", yscale="log",
           title="test-time adaptation: loss and errors against the truth")
    return save_figure(fig, [ax], path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="adaptation time per recording (s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[4321, 1234, 99, 7])
    parser.add_argument("--trace", action="store_true", help="loss and errors over the steps (module docstring)")
    parser.add_argument("--trace-seeds", type=int, nargs="+", default=[4321, 1234])
    parser.add_argument("--trace-steps", type=int, nargs="+", default=list(TRACE_STEPS))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model, estimator = load_model(), resolve_flow(None)
    if args.trace:
        print("| seed | steps | loss on the recording (px) | field error (px) | DIS motion error (px) |\n|---|---|---|---|---|")
        rows = [row for seed in args.trace_seeds for row in trace(seed, args.trace_steps, model, estimator)]
        print(f"wrote {plot_trace(rows, ROOT / 'docs' / 'images' / 'tta_trace.png')}")
        return
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
