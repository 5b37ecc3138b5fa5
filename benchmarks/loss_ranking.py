"""Does the training loss rank magnified frames the way exact ground truth does? (issue 13 item 1, METHOD.md section 7)

Held-out vibmag.synthetic object scenes (128 px, 4 textured objects over a
textured still background, each object shifted by 0.6-1 times a scene motion m,
m log-uniform in 0.1-1 px, its own direction), alpha = bin / m so the magnified
motion falls in bins of 2, 5, 10 and 20 px, Gaussian noise sigma 0 and 0.01
(drawn independently for the generator's input pair, the loss's judging copy
and the exact render). Candidates for the magnified frame:

* exact: the exact magnified render (:func:`vibmag.synthetic.render_magnified`), plus its own noise;
* forward splat: It moved by (alpha - 1) times vibmag's default flow F(I0, It) by a
  z-ordered forward splat (:func:`vibmag.magnification.splat.forward_splat`),
  holes filled by the backward warp;
* backward warp: It resampled at q - (alpha - 1) F(q) (the Lagrangian method,
  and today's model at initialisation);
* identity: It itself.

A loss ranks right on a scene when L(exact) < L(forward) <= L(backward) < L(identity).
Reported per bin and noise: the mean loss of each candidate over scenes, whether
the means rank right, and the share of single scenes that rank right; and the
truth: each candidate's mean absolute error against the noise-free exact render
(``truth`` rows), and whether the loss orders the four means as the truth does. Losses:
``edge-aware`` (:class:`vibmag.magnification.losses.EdgeAwareLoss`, the loss
the training uses) and ``paper`` (:class:`~vibmag.magnification.losses.FlowMagLoss`
with vibmag's default estimator on both sides, the target from the same noisy
pair: the released method).

Usage: ``python benchmarks/loss_ranking.py [--scenes N] [--no-write]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import machine_line, markdown_table, update_section  # noqa: E402

from vibmag.flow import warp  # noqa: E402
from vibmag.magnification.infer import resolve_flow  # noqa: E402
from vibmag.magnification.losses import EdgeAwareLoss, FlowMagLoss  # noqa: E402
from vibmag.magnification.splat import forward_splat  # noqa: E402
from vibmag.synthetic import object_scene, render_magnified  # noqa: E402

BINS = (2.0, 5.0, 10.0, 20.0)
NOISES = (0.0, 0.01)
CANDIDATES = ("exact", "forward splat", "backward warp", "identity")
SEED = 2023  # held out: training pools draw scene seeds from other streams


def tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]


def make_case(magnified_px: float, noise: float, index: int, size: int = 128, n_objects: int = 4):
    """One held-out scene: (input pair, judging pair, exact magnified frame, alpha); all (1, 1, S, S)."""
    rng = np.random.default_rng([SEED, int(magnified_px * 10), int(noise * 1e4), index])
    m = float(np.exp(rng.uniform(np.log(0.1), np.log(1.0))))
    motion = []
    for _ in range(n_objects):
        angle, scale = rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.0)
        motion.append((m * scale * np.cos(angle), m * scale * np.sin(angle)))
    alpha = magnified_px / m
    ds = object_scene((size, size), n_objects=n_objects, motion=motion, seed=int(rng.integers(2**31)), supersample=3)
    clean = ds["frames"].values
    exact = render_magnified(ds, alpha)["frames"].values[1]

    def noisy(frame):
        return np.clip(frame + noise * rng.standard_normal(frame.shape), 0.0, 1.0) if noise else frame

    pair = (tensor(noisy(clean[0])), tensor(noisy(clean[1])))
    judge = (tensor(noisy(clean[0])), tensor(noisy(clean[1])))
    return pair, judge, tensor(noisy(exact)), alpha, tensor(exact)


def candidates(pair, exact, alpha, estimator) -> dict:
    """The four candidate outputs (1, 1, S, S)."""
    i0, it = pair
    with torch.no_grad():
        flow = estimator(i0, it)
        backward = warp(it, -(alpha - 1.0) * flow)
        splat, _ = forward_splat(it, (alpha - 1.0) * flow, fill=backward)
    return {"exact": exact, "forward splat": splat.clamp(0, 1), "backward warp": backward.clamp(0, 1), "identity": it}


def truth_error(out: torch.Tensor, clean: torch.Tensor, border: int = 12) -> float:
    """Mean absolute error against the noise-free exact render, away from the border."""
    return float((out - clean)[..., border:-border, border:-border].abs().mean())


def ranks_right(values: dict) -> bool:
    e, f, b, i = (values[name] for name in CANDIDATES)
    return bool(e < f <= b < i)


def run(bins=BINS, noises=NOISES, n_scenes: int = 10, size: int = 128, losses=("edge-aware", "paper")) -> dict:
    """{(loss, bin, noise): {"mean": {candidate: value}, "right": bool, "share": float, "agrees": bool}}; loss "truth": the error."""
    estimator = resolve_flow()
    edge = EdgeAwareLoss(estimator)
    paper = FlowMagLoss(estimator)
    results = {}
    for magnified_px in bins:
        for noise in noises:
            scores = {name: {c: [] for c in CANDIDATES} for name in (*losses, "truth")}
            for k in range(n_scenes):
                pair, judge, exact, alpha, clean = make_case(magnified_px, noise, k, size)
                outputs = candidates(pair, exact, alpha, estimator)
                for c, out in outputs.items():
                    scores["truth"][c].append(truth_error(out, clean))
                a = torch.tensor(alpha, dtype=torch.float32).view(1, 1, 1, 1)
                with torch.no_grad():
                    if "edge-aware" in losses:
                        target = edge.target(*judge, a)
                        for c, out in outputs.items():
                            scores["edge-aware"][c].append(edge(out, target).value)
                    if "paper" in losses:
                        for c, out in outputs.items():
                            scores["paper"][c].append(paper(*pair, out, a).value)
            truth = {c: float(np.mean(v)) for c, v in scores["truth"].items()}
            for name in (*losses, "truth"):
                mean = {c: float(np.mean(v)) for c, v in scores[name].items()}
                share = float(np.mean([ranks_right({c: scores[name][c][k] for c in CANDIDATES}) for k in range(n_scenes)]))
                agrees = sorted(CANDIDATES, key=mean.get) == sorted(CANDIDATES, key=truth.get)
                results[(name, magnified_px, noise)] = {"mean": mean, "right": ranks_right(mean), "share": share, "agrees": agrees}
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    start = time.perf_counter()
    results = run(n_scenes=args.scenes)
    seconds = time.perf_counter() - start
    rows = [[name, f"{b:g} px", f"{n:g}", *[r["mean"][c] for c in CANDIDATES], "yes" if r["right"] else "no", r["share"],
             "-" if name == "truth" else ("yes" if r["agrees"] else "no")]
            for (name, b, n), r in results.items()]
    table = markdown_table(["loss", "magnified motion", "noise", *[f"L({c})" for c in CANDIDATES], "means rank right",
                            "share of scenes right", "order of means = truth's"], rows)
    print(table)
    print(f"{seconds:.0f} s")
    body = f"""Command: `python benchmarks/loss_ranking.py --scenes {args.scenes}`. Machine: {machine_line()}. {seconds:.0f} s.

{args.scenes} held-out object scenes per row (128 px, 4 objects over a still textured background, seed stream {SEED});
alpha chosen so the magnified motion is the bin's; noise drawn independently for the input pair, the loss's judging copy
and the exact render. Right: L(exact) < L(forward splat) <= L(backward warp) < L(identity). `edge-aware` is
`vibmag.magnification.losses.EdgeAwareLoss` (METHOD.md section 7: edge-aware target on an independently noised copy,
warm-started edge-aware estimator on the output fitting the deviation, z-buffer visibility mask); `paper` is the
released loss with vibmag's default Lucas-Kanade on both sides and the target from the input pair itself; `truth` is
each candidate's mean absolute error against the noise-free exact render (what a loss should agree with).

{table}
"""
    if args.no_write:
        return
    print(f"updated {update_section('Loss ranking against exact renders', body)}")


if __name__ == "__main__":
    main()
