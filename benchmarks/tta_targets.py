"""Candidate test-time targets on the held-out TTA recording, each scored against the exact displacement (issue 13).

Usage: python benchmarks/tta_targets.py [--seconds 90]

A valid test-time objective needs a target whose error is independent of the
input's and smaller than the model's own. On ``tta_recording()`` of
benchmarks/magnification_quality.py (4 objects vibrating 0.04-1 px over a still
background, 12 frames, noise 0.01) this prints, for frames 1..11 against frame 0:

* the field error (mean end-point error, px, against the recording's exact
  ``true_displacement``, 12 px borders left out) of the raw flow, of the shipped
  model's field, and of the flow's leave-one-out low-rank projection (the modes
  of the other frames' flows: what a modal "other frames" target can give);
* the RMS error split into its part constant over the frames (what every F(I0, .) shares: frame 0's own
  noise, and the outline blur where motions keep one sign) and the rest;
* the shipped model's field set to zero where the recording shows no periodic motion
  (:func:`vibmag.magnification.recording_target.still_background_target`, the target of
  ``vibmag.adapt``'s default objective);
* the DIS motion error of the splat of each at alpha 10 (magnification_quality's measure);
* a photometric adaptation: the shipped model fine-tuned for ``--seconds`` on
  ``|It(p + D(p)) - I0(p)|`` (Charbonnier) over the recording itself, its loss
  and field error before and after.

Nothing is written to the docs; the figures are quoted in docs/model_card.md.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import magnification_quality as mq  # noqa: E402

from vibmag.flow import warp  # noqa: E402
from vibmag.magnification import load_model, resolve_flow  # noqa: E402
from vibmag.magnification.losses import flow_and_confidence  # noqa: E402
from vibmag.magnification.recording_target import still_background_target  # noqa: E402
from vibmag.magnification.splat import splat_warp  # noqa: E402
from vibmag.synthetic import render_magnified  # noqa: E402

ALPHA = 10.0
SHIPPED = "shipped model's field"
INNER = (Ellipsis, slice(mq.BORDER, -mq.BORDER), slice(mq.BORDER, -mq.BORDER))


def field_error(field: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean end-point error (px) of (T, 2, H, W) fields inside the border."""
    return float((field - truth)[INNER].pow(2).sum(1).sqrt().mean())


def error_parts(field: torch.Tensor, truth: torch.Tensor) -> tuple[float, float, float]:
    """RMS end-point error (px) in total, of its part constant over the frames, and of the rest."""
    error = (field - truth)[INNER]
    static = error.mean(0, keepdim=True)
    return tuple(float(e.pow(2).sum(1).mean().sqrt()) for e in (error, static, error - static))


def leave_one_out_projection(flows: torch.Tensor, rank: int) -> torch.Tensor:
    """Each frame's flow projected on the top ``rank`` spatial modes of the other frames' flows."""
    matrix = flows.reshape(flows.shape[0], -1).double().numpy()
    out = np.empty_like(matrix)
    for t in range(matrix.shape[0]):
        modes = np.linalg.svd(np.delete(matrix, t, 0), full_matrices=False)[2][:rank]
        out[t] = (matrix[t] @ modes.T) @ modes
    return torch.from_numpy(out).float().view_as(flows)


def splat_motion_error(ds, its: torch.Tensor, fields: torch.Tensor) -> float:
    """DIS motion error (px) of ``splat_warp`` of every frame by (alpha - 1) times its field, against the exact render."""
    frames, exact = ds["frames"].values.astype(np.float32), render_magnified(ds, ALPHA)["frames"].values
    errors = []
    for t in range(its.shape[0]):
        with torch.no_grad():
            out = np.clip(splat_warp(its[t : t + 1], (ALPHA - 1.0) * fields[t : t + 1])[0, 0].numpy(), 0.0, 1.0)
        target = exact[t + 1].astype(np.float32)
        errors.append(mq.scores(out, target, frames[0], mq.dis_flow(frames[0], target))["motion"])
    return float(np.mean(errors))


def model_fields(model, i0, its, flows, confidence) -> torch.Tensor:
    with torch.no_grad():
        return model.eval().predict(i0.expand_as(its), its, torch.full_like(its, ALPHA), flow=flows, confidence=confidence)[0]


def photometric_adaptation(model, i0, its, flows, confidence, truth, seconds: float) -> dict:
    """Fine-tune a copy on the recording's own brightness constancy; loss and field error before and after."""
    adapted = copy.deepcopy(model).train()
    for p in adapted.parameters():
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(adapted.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)

    def loss_of(field, it):
        residual = (warp(it, field) - i0)[..., 4:-4, 4:-4]
        return torch.sqrt(residual**2 + 1e-4).mean()

    with torch.no_grad():
        before = float(loss_of(model_fields(model, i0, its, flows, confidence), its))
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        idx = rng.integers(0, its.shape[0], 4)
        alpha = torch.from_numpy(np.exp(rng.uniform(0, np.log(64), 4)).astype(np.float32)).view(-1, 1, 1, 1)
        field, _ = adapted.predict(i0.expand_as(its[idx]), its[idx], alpha.expand_as(its[idx]), flow=flows[idx], confidence=confidence[idx])
        loss = loss_of(field, its[idx])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(adapted.parameters(), 1.0)
        optimizer.step()
        steps += 1
    fields = model_fields(adapted, i0, its, flows, confidence)
    with torch.no_grad():
        after = float(loss_of(fields, its))
    return {"steps": steps, "loss": (before, after), "field error": field_error(fields, truth)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=90.0, help="photometric adaptation time (s)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model, estimator, ds = load_model(), resolve_flow(None), mq.tta_recording()
    frames = ds["frames"].values.astype(np.float32)
    i0, its = torch.from_numpy(frames[0])[None, None], torch.from_numpy(frames[1:])[:, None]
    with torch.no_grad():
        flows, confidence = flow_and_confidence(estimator, i0, its)
    truth = torch.from_numpy(ds["true_displacement"].values[1:]).float()
    candidates = {"raw flow": flows, SHIPPED: model_fields(model, i0, its, flows, confidence),
                  **{f"low-rank leave-one-out, rank {k}": leave_one_out_projection(flows, k) for k in (2, 4, 8)},
                  "shipped field, still background zeroed (adapt's target)":
                      still_background_target(model_fields(model, i0, its, flows, confidence), np.arange(1, its.shape[0] + 1))[0],
                  "true displacement": truth}
    print("| target | field error (px) | RMS error: total / constant over frames / varying (px) "
          "| splat at alpha 10, DIS motion error (px) |\n|---|---|---|---|")
    for name, fields in candidates.items():
        parts = " / ".join(f"{p:.4f}" for p in error_parts(fields, truth))
        print(f"| {name} | {field_error(fields, truth):.4f} | {parts} | {splat_motion_error(ds, its, fields):.3f} |", flush=True)
    moving = (truth.abs().amax(dim=(0, 1)) > 0)[INNER[1:]]
    squared = (candidates[SHIPPED] - truth)[INNER].pow(2).sum(1)
    print(f"\n{SHIPPED}: RMS error on pixels that move {float(squared[:, moving].mean().sqrt()):.4f} px, "
          f"on the still background {float(squared[:, ~moving].mean().sqrt()):.4f} px")
    result = photometric_adaptation(model, i0, its, flows, confidence, truth, args.seconds)
    print(f"\nphotometric adaptation, {args.seconds:g} s, {result['steps']} steps: loss {result['loss'][0]:.5f} -> "
          f"{result['loss'][1]:.5f}, field error {field_error(candidates[SHIPPED], truth):.4f} -> "
          f"{result['field error']:.4f} px")


if __name__ == "__main__":
    main()
