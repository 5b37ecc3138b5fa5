"""Experiment (issue 13 items 2-3): a learned correction on a forward-splat base, trained with the edge-aware loss.

Does the held-out loss fall, and does the error against the exact render fall with it? Nothing here is shipped.

* Model: ``Magnifier("flow", widths=(8, 16, 32), base="splat")``: the z-ordered forward splat of It by
  (alpha - 1) times the smoothed flow, plus a learned correction field and residual (zero at the start, so step 0
  is the non-learned splat).
* Data, where the warp fails: object scenes (2-6 textured objects over a still textured background), object
  motion m log-uniform 0.1-1 px, alpha = target / m with the magnified target log-uniform 2-20 px (alpha 2-200),
  noise sigma log-uniform 0.005-0.03; the generator sees one noisy render, the loss judges with a second,
  independently noised render of the same pair (self-supervised: no magnified frame is used in training).
* Loss: :class:`vibmag.magnification.losses.EdgeAwareLoss` (ranked right against exact renders,
  benchmarks/loss_ranking.py).
* Every ``--eval-every`` steps, on held-out scenes (other seeds): the loss, and the mean absolute error and SSIM
  (scikit-image) against the exact noise-free render, which training never sees.

Usage: ``python docs/training/splat_residual_experiment.py --minutes 20 --log docs/training/splat_residual_log.csv``
Seeded (numpy ``default_rng([seed, ...])`` per scene and per step; ``torch.manual_seed``); single process.
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np
import torch
from skimage.metrics import structural_similarity

from vibmag.magnification.infer import resolve_flow
from vibmag.magnification.losses import EdgeAwareLoss, flow_and_confidence
from vibmag.magnification.model import Magnifier
from vibmag.synthetic import object_scene, render_magnified


def scene(seed: int, index: int, size: int, with_exact: bool):
    rng = np.random.default_rng([seed, index])
    n_objects = int(rng.integers(2, 7))
    m = float(np.exp(rng.uniform(np.log(0.1), np.log(1.0))))
    motion = [(m * s * np.cos(a), m * s * np.sin(a)) for a, s in zip(rng.uniform(0, 2 * np.pi, n_objects), rng.uniform(0.6, 1.0, n_objects))]
    alpha = float(np.exp(rng.uniform(np.log(2.0), np.log(20.0)))) / m
    sigma = float(np.exp(rng.uniform(np.log(0.005), np.log(0.03))))
    ds = object_scene((size, size), n_objects=n_objects, motion=motion, seed=int(rng.integers(2**31)), supersample=2)
    clean = ds["frames"].values.astype(np.float32)
    exact = render_magnified(ds, alpha)["frames"].values[1].astype(np.float32) if with_exact else None
    return clean, alpha, sigma, exact


def noisy(clean, sigma, rng):
    return np.clip(clean + sigma * rng.standard_normal(clean.shape).astype(np.float32), 0, 1)


def as_batch(items):
    return torch.from_numpy(np.stack(items)[:, None])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--train-scenes", type=int, default=240)
    p.add_argument("--val-scenes", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log", default="splat_residual_log.csv")
    p.add_argument("--mag-weight", type=float, default=1.0, help="weight of the loss's magnification term (1: as trained and ranked)")
    p.add_argument("--head-init", type=float, default=0.0, help="std of the output head's initial weights (0: exactly the splat at start)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    estimator = resolve_flow()
    loss_fn = EdgeAwareLoss(estimator, mag_weight=args.mag_weight)
    train = [scene(args.seed, k, args.size, False) for k in range(args.train_scenes)]
    val = [scene(args.seed + 1000, k, args.size, True) for k in range(args.val_scenes)]
    val_rng = np.random.default_rng([args.seed, 5])
    val_inputs = [(noisy(c, s, val_rng), noisy(c, s, val_rng), a, e) for c, a, s, e in val]
    model = Magnifier("flow", widths=(8, 16, 32), max_alpha=256.0, base="splat")
    if args.head_init:
        torch.nn.init.normal_(model.net.head.weight, std=args.head_init)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    rows = []

    def evaluate(step, seconds):
        model.eval()
        losses, errors, ssims = [], [], []
        with torch.no_grad():
            for pair, judge, alpha, exact in val_inputs:
                i0, it = as_batch([pair[0]]), as_batch([pair[1]])
                a = torch.tensor(alpha).view(1, 1, 1, 1)
                flow, confidence = flow_and_confidence(estimator, i0, it)
                out = model(i0, it, a, flow=flow, confidence=confidence).clamp(0, 1)
                losses.append(loss_fn(out, loss_fn.target(as_batch([judge[0]]), as_batch([judge[1]]), a)).value)
                o = out[0, 0].numpy()[6:-6, 6:-6]
                errors.append(float(np.abs(o - exact[6:-6, 6:-6]).mean()))
                ssims.append(float(structural_similarity(o, exact[6:-6, 6:-6], data_range=1.0)))
        row = {"step": step, "seconds": round(seconds, 1), "val_loss": np.mean(losses), "exact_l1": np.mean(errors), "exact_ssim": np.mean(ssims)}
        rows.append(row)
        print(row, flush=True)

    start = time.time()
    evaluate(0, 0.0)
    step = 0
    while time.time() - start < 60 * args.minutes:
        rng = np.random.default_rng([args.seed, 7, step])
        picks = rng.integers(0, len(train), args.batch_size)
        i0s, its, j0s, jts, alphas = [], [], [], [], []
        for k in picks:
            clean, alpha, sigma, _ = train[k]
            a_pair, b_pair = noisy(clean, sigma, rng), noisy(clean, sigma, rng)
            i0s.append(a_pair[0]); its.append(a_pair[1]); j0s.append(b_pair[0]); jts.append(b_pair[1]); alphas.append(alpha)
        i0, it, j0, jt = (as_batch(x) for x in (i0s, its, j0s, jts))
        alpha = torch.tensor(alphas, dtype=torch.float32).view(-1, 1, 1, 1)
        with torch.no_grad():
            flow, confidence = flow_and_confidence(estimator, i0, it)
            target = loss_fn.target(j0, jt, alpha)
        model.train()
        out = model(i0, it, alpha, flow=flow, confidence=confidence)
        terms = loss_fn(out, target)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        optimizer.step()
        step += 1
        if step % args.eval_every == 0:
            evaluate(step, time.time() - start)
    if rows[-1]["step"] != step:
        evaluate(step, time.time() - start)
    with open(args.log, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("wrote", args.log)


if __name__ == "__main__":
    main()
