"""Training the magnifier with the self-supervised flow losses (``vibmag train``).

Laid out like torchvision's training references: :func:`get_args_parser`
apart from :func:`main`, a plain :func:`train_one_epoch` and
:func:`evaluate`, and checkpoints holding model, optimiser, step and config
so a run resumes exactly where it stopped (batches are a pure function of
``(seed, step)``, see :meth:`vibmag.magnification.data.PairPool.batch`).

Example (the command that produced the shipped weights is in
docs/model_card.md)::

    vibmag train --output-dir runs/flowmag --steps 4000 --threads 2
    vibmag train --output-dir runs/flowmag --resume runs/flowmag/checkpoint.pt --steps 6000
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
import math
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..files import atomic_path
from ..synthetic import object_scene, render_magnified
from .data import Augment, PairPool, PoolConfig, build_pool
from .infer import WEIGHTS_FORMAT, ModelFileError, load_tensors, magnify_pair, resolve_flow
from .losses import FlowMagLoss, flow_and_confidence
from .model import Magnifier
from .targets import TargetConfig, TargetPool, build_target_pool, flow_target_loss

__all__ = [
    "get_args_parser",
    "main",
    "train_step",
    "train_one_epoch",
    "evaluate",
    "target_loss",
    "train_target_step",
    "evaluate_targets",
    "truth_error",
    "save_checkpoint",
    "load_checkpoint",
    "export_weights",
]

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "vibmag-magnifier-checkpoint"


def model_inputs(model: Magnifier, estimator, i0: torch.Tensor, it: torch.Tensor):
    """``(flow, confidence)`` = F(I0, It) for the flow-conditioned model (no gradient; they are data)."""
    with torch.no_grad():
        return flow_and_confidence(estimator, i0, it)


def train_step(model: Magnifier, loss_fn: FlowMagLoss, optimizer: torch.optim.Optimizer, i0, it, alpha, *, flow=None, confidence=None):
    """One optimiser step on a batch; returns the :class:`LossTerms`.

    ``flow`` and ``confidence`` are F(I0, It) (N, 2, H, W) px and its
    confidence (N, 1, H, W) where already computed (test-time adaptation cuts
    them from whole-frame flows); by default they are computed here, without
    gradient.
    """
    model.train()
    if flow is None:
        flow, confidence = model_inputs(model, loss_fn.estimator, i0, it)
    magnified = model(i0, it, alpha, flow=flow, confidence=confidence)
    terms = loss_fn(i0, it, magnified, alpha, flow_input=flow, confidence=confidence)
    optimizer.zero_grad(set_to_none=True)
    terms.total.backward()
    optimizer.step()
    return terms


def train_one_epoch(
    model: Magnifier,
    loss_fn: FlowMagLoss,
    optimizer: torch.optim.Optimizer,
    pool: PairPool,
    augment: Augment,
    *,
    start_step: int,
    steps: int,
    batch_size: int,
    seed: int = 0,
    device="cpu",
    log_rows: list | None = None,
    print_every: int = 10,
    deadline: float | None = None,
) -> int:
    """Train ``steps`` steps from ``start_step``; returns the step reached (earlier at ``deadline``)."""
    step = start_step
    t0 = time.perf_counter()
    for step in range(start_step, start_step + steps):
        if deadline is not None and time.time() >= deadline:
            return step
        i0, it, alpha = (x.to(device) for x in pool.batch(step, batch_size, augment, seed))
        terms = train_step(model, loss_fn, optimizer, i0, it, alpha)
        if not math.isfinite(terms.value):
            raise FloatingPointError(f"loss is {terms.value} at step {step}")
        if log_rows is not None:
            log_rows.append({"step": step + 1, "split": "train", "loss": terms.value, "mag": terms.mag, "color": terms.color})
        if print_every and (step + 1) % print_every == 0:
            rate = (step + 1 - start_step) / (time.perf_counter() - t0)
            log.info("step %d  loss %.4f  mag %.4f px  color %.5f  (%.2f steps/s)", step + 1, terms.value, terms.mag, terms.color, rate)
    return start_step + steps


@torch.no_grad()
def evaluate(model: Magnifier, loss_fn: FlowMagLoss, pool: PairPool, augment: Augment, *, batch_size: int = 8, seed: int = 0, device="cpu", limit=None) -> dict:
    """Mean losses over a held-out pool (fixed crops and alphas), without gradients."""
    model.eval()
    totals = {"loss": 0.0, "mag": 0.0, "color": 0.0}
    count = 0
    for i0, it, alpha in pool.fixed(batch_size, augment, seed, limit):
        i0, it, alpha = i0.to(device), it.to(device), alpha.to(device)
        flow, confidence = flow_and_confidence(loss_fn.estimator, i0, it)
        magnified = model(i0, it, alpha, flow=flow, confidence=confidence)
        terms = loss_fn(i0, it, magnified, alpha, flow_input=flow, confidence=confidence)
        n = i0.shape[0]
        totals["loss"] += terms.value * n
        totals["mag"] += terms.mag * n
        totals["color"] += terms.color * n
        count += n
    return {k: v / max(count, 1) for k, v in totals.items()}


def target_loss(model: Magnifier, batch, *, beta: float = 0.5) -> torch.Tensor:
    """The ``independent-flow`` loss (px) of the model's field on a :meth:`TargetPool.batch`."""
    i0, it, flow, confidence, target, alpha = batch
    field, _ = model.predict(i0, it, alpha.expand(-1, 1, *it.shape[-2:]), flow=flow, confidence=confidence)
    return flow_target_loss(field, target, beta=beta)


def train_target_step(model: Magnifier, optimizer: torch.optim.Optimizer, batch, *, beta: float = 0.5) -> float:
    """One step of the ``independent-flow`` objective on a :meth:`TargetPool.batch`; returns the loss (px)."""
    model.train()
    loss = target_loss(model, batch, beta=beta)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # the targets' rare outliers must not throw the weights
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate_targets(model: Magnifier, pool: TargetPool, *, batch_size: int = 8, crop: int = 96, alpha_range=(1.0, 256.0),
                     beta: float = 0.5, seed: int = 0, device="cpu") -> dict:
    """``{"loss": mean held-out loss}`` over a :class:`TargetPool` (fixed crops and alphas)."""
    model.eval()
    total, count = 0.0, 0
    for batch in pool.fixed(batch_size, crop=crop, alpha_range=alpha_range, seed=seed):
        batch = tuple(x.to(device) for x in batch)
        total += float(target_loss(model, batch, beta=beta)) * len(batch[0])
        count += len(batch[0])
    return {"loss": total / max(count, 1)}


@torch.no_grad()
def truth_error(model: Magnifier, estimator, scenes: list, *, border: int = 12) -> float:
    """Mean absolute error (intensity) of the model's output against the exact, noise-free magnified renders.

    ``scenes``: ``(i0, it, alpha, exact)`` tuples of (1, 1, S, S) tensors and a float, made by
    :func:`truth_scenes`. Never used for training: it is how a run shows its loss and the truth fall together.
    """
    model.eval()
    errors = []
    for i0, it, alpha, exact in scenes:
        out = magnify_pair(model, i0, it, alpha, estimator=estimator).clamp(0, 1)
        errors.append(float((out - exact)[..., border:-border, border:-border].abs().mean()))
    return float(np.mean(errors))


def truth_scenes(n: int, *, size: int = 128, seed: int = 0) -> list:
    """``n`` held-out object scenes (seed stream apart from training) with exact magnified renders.

    Object motion log-uniform 0.1-1 px, the magnified motion 5 or 10 px, noise 0 or 0.01 on the input pair,
    in turn. Returns ``(i0, it, alpha, exact)`` tuples of (1, 1, S, S) float32 tensors and a float.
    """
    scenes = []
    for k in range(n):
        rng = np.random.default_rng([seed, 31, k])
        m = float(np.exp(rng.uniform(np.log(0.1), 0.0)))
        motion = [(m * s * np.cos(a), m * s * np.sin(a)) for a, s in zip(rng.uniform(0, 2 * np.pi, 4), rng.uniform(0.6, 1.0, 4))]
        ds = object_scene((size, size), n_objects=4, motion=motion, seed=int(rng.integers(2**31)), supersample=2)
        alpha = (5.0, 10.0)[k % 2] / m
        noise = (0.0, 0.01)[(k // 2) % 2]
        frames = ds["frames"].values.astype(np.float32)
        if noise:
            frames = np.clip(frames + noise * rng.standard_normal(frames.shape).astype(np.float32), 0, 1)
        exact = render_magnified(ds, alpha)["frames"].values[1].astype(np.float32)
        scenes.append((*(torch.from_numpy(f)[None, None] for f in (frames[0], frames[1])), alpha, torch.from_numpy(exact)[None, None]))
    return scenes


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path, model: Magnifier, optimizer, step: int, config: dict) -> Path:
    """Write model, optimiser, step, config and RNG state atomically (torch.save, weights_only-loadable)."""
    path = Path(path)
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "model_config": json.dumps(model.config()),
        "optimizer": optimizer.state_dict(),
        "step": int(step),
        "config": json.dumps(config),
        "torch_rng": torch.get_rng_state(),
    }
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        torch.save(state, fh)  # a file object: the zip's inner folder is "archive", not the random temporary name
    return path


def load_checkpoint(path, *, device="cpu"):
    """``(model, optimizer_state, step, config)`` from a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    state = load_tensors(path, what="checkpoint", device=device)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{path} is not a vibmag magnifier checkpoint")
    model = Magnifier(**json.loads(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device), state["optimizer"], int(state["step"]), json.loads(state["config"])


def export_weights(model: Magnifier, path, *, metadata: dict | None = None) -> Path:
    """Write the shipped-weights file read by :func:`vibmag.magnify.load_model` (state dict + JSON metadata)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": WEIGHTS_FORMAT,
        "model_config": json.dumps(model.config()),
        "metadata": json.dumps(metadata or {}),
        "state_dict": {k: v.detach().to("cpu", torch.float32).clone() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        torch.save(state, fh)  # a file object: the zip's inner folder is "archive", not the random temporary name
    return path


# --------------------------------------------------------------------------- command line


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Options of ``vibmag train``."""
    p = argparse.ArgumentParser(prog="vibmag train", description="Train the self-supervised motion magnifier (METHOD.md section 1).", add_help=add_help)
    p.add_argument("--output-dir", required=True, help="folder for checkpoint.pt, log.csv, config.json and weights")
    p.add_argument("--objective", choices=["paper", "independent-flow"], default="paper",
                   help="'paper': L_mag + L_color against the input pair itself; 'independent-flow': the field against the mean "
                        "flow of independently noised copies (vibmag.magnification.targets; the shipped model)")
    p.add_argument("--variant", choices=["flow", "images"], default="flow", help="generator inputs: frozen flow + images (default) or images only (the paper's)")
    p.add_argument("--base", choices=["warp", "splat"], default="warp", help="how the field moves It: backward warp, or z-ordered forward splat")
    p.add_argument("--copies", type=int, default=4, help="independently noised copies averaged into the target (independent-flow)")
    p.add_argument("--target-sigma", type=float, default=2.0, help="edge-aware Lucas-Kanade window of the target, px; 0: the default estimator's flow (independent-flow)")
    p.add_argument("--target-window", type=float, default=None,
                   help="Lucas-Kanade window sigma (px) of the target's flows; default: the training estimator's (independent-flow)")
    p.add_argument("--target-smoothing", type=float, default=0.0,
                   help="px: the target smoothed as the generator smooths its input (set it to --flow-smoothing; independent-flow)")
    p.add_argument("--same-noise", action="store_true", help="the control: the target from the input copy itself (independent-flow)")
    p.add_argument("--confidence-encoding", choices=["linear", "log-error"], default="linear",
                   help="how the network reads the flow's confidence (vibmag.magnification.model.encode_confidence)")
    p.add_argument("--correction-floor", type=float, default=0.0,
                   help="with --confidence-encoding log-error: the share of the learned correction kept for a noise-free flow "
                        "(0: none, so the network only denoises; above 0 it may also sharpen)")
    p.add_argument("--ones-prob", type=float, default=0.0, help="share of samples given a confidence of 1 (independent-flow)")
    p.add_argument("--huber-beta", type=float, default=0.5, help="px below which the independent-flow loss is quadratic")
    p.add_argument("--truth-scenes", type=int, default=0, help="held-out scenes with exact magnified renders scored at every evaluation (logged, never trained on)")
    p.add_argument("--widths", default="16,32,64,96", help="U-Net channel widths per level")
    p.add_argument("--flow-smoothing", type=float, default=1.5, help="sigma (px) of the confidence-weighted smoothing of the input flow (flow variant)")
    p.add_argument("--steps", type=int, default=4000, help="total optimiser steps (a resumed run continues up to this)")
    p.add_argument("--epoch-steps", type=int, default=100, help="steps between evaluations and checkpoints")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--crop", type=int, default=96, help="training crop size, px")
    p.add_argument("--lr", type=float, default=3e-4, help="Adam learning rate (paper: 3e-4)")
    p.add_argument("--alpha-max", type=float, default=16.0, help="alpha is drawn log-uniform in [1, alpha-max]")
    p.add_argument("--mag-weight", type=float, default=1.0)
    p.add_argument("--color-weight", type=float, default=10.0)
    p.add_argument("--confidence-mask", action="store_true", help="weight the losses by the flow confidence (not in the paper)")
    p.add_argument("--noise-prob", type=float, default=0.5, help="probability of adding sensor noise to a training pair")
    p.add_argument("--pool-size", type=int, default=128, help="size of the stored training pairs, px")
    p.add_argument("--pool", default="400,100,600,60", help="pairs per source: objects,plates,natural,recordings")
    p.add_argument("--pool-cache", default=None, help=".npz cache of the training pairs (default: OUTPUT_DIR/pairs.npz)")
    p.add_argument("--val-pairs", type=int, default=48, help="held-out pairs for evaluate()")
    p.add_argument("--flow", default="vibmag", help="flow estimator: 'vibmag' (vibmag.flow's default) or 'module:callable'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu' or 'cuda'")
    p.add_argument("--resume", default=None, help="checkpoint to resume from")
    p.add_argument("--time-limit", type=float, default=None, help="stop (with a checkpoint) after this many seconds")
    p.add_argument("--export", default=None, help="also write the final weights file here (e.g. vibmag/models/flowmag.pt)")
    p.add_argument("--print-every", type=int, default=10)
    return p


def _pool_config(args) -> PoolConfig:
    counts = [int(v) for v in str(args.pool).split(",")]
    if len(counts) != 4:
        raise ValueError(f"--pool needs four counts (objects,plates,natural,recordings), got {args.pool!r}")
    return PoolConfig(args.pool_size, *counts, seed=args.seed)


def _write_log(path: Path, rows: list[dict]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["step", "split", "loss", "mag", "color", "truth_error", "seconds"])
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
    rows.clear()


def _check_inputs(args, cache: Path, device):
    """Refuse a bad ``--resume`` checkpoint or ``--pool-cache`` before any work; return the loaded checkpoint (or None)."""
    if cache.exists():
        check_pool_cache(cache)
    if not args.resume:
        return None
    if not Path(args.resume).is_file():
        raise ModelFileError(f"{args.resume}: no such checkpoint (--resume)")
    return load_checkpoint(args.resume, device=device)


def check_pool_cache(path) -> None:
    """ModelFileError unless ``path`` is a training-pair cache as vibmag writes it: an ``.npz`` of
    numeric ``i0``, ``it`` and string ``source`` arrays, with no pickled objects (never loaded)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile) or not {"i0", "it", "source"} <= {name for name in data.files}:
                raise ValueError("it lacks the arrays i0, it and source")
            for name in ("i0", "it", "source"):
                with data.zip.open(f"{name}.npy") as member:
                    version = np.lib.format.read_magic(member)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    _, _, dtype = read_header(member)
                if dtype.hasobject or dtype.kind not in ("f" if name != "source" else "US"):
                    raise ValueError(f"its {name} array holds {dtype} values")
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        detail = "it holds pickled Python objects, which vibmag never loads" if "pickle" in str(exc) else str(exc)
        raise ModelFileError(f"{path}: not a training-pair cache vibmag wrote (--pool-cache): {detail}; "
                             "delete it or pass another --pool-cache") from None


def _paper_objective(args, pool: PairPool, loss_fn: FlowMagLoss, device):
    """``(run_epoch, validate)`` for the paper's losses on augmented pairs of ``pool``."""
    train_pool, val_pool = pool.split(min(args.val_pairs, len(pool) // 4), seed=args.seed)
    augment = Augment(crop=args.crop, alpha_range=(1.0, args.alpha_max), noise_prob=args.noise_prob)

    def run_epoch(model, optimizer, step, n, rows, deadline):
        return train_one_epoch(model, loss_fn, optimizer, train_pool, augment, start_step=step, steps=n, batch_size=args.batch_size,
                               seed=args.seed, device=device, log_rows=rows, print_every=args.print_every, deadline=deadline)

    def validate(model):
        return evaluate(model, loss_fn, val_pool, augment, batch_size=args.batch_size, seed=args.seed, device=device)

    return run_epoch, validate


def _target_objective(args, pool: PairPool, estimator, out: Path, device):
    """``(run_epoch, validate)`` for the independent-flow objective (:mod:`vibmag.magnification.targets`)."""
    config = TargetConfig(copies=args.copies, noise_prob=args.noise_prob, sigma=args.target_sigma,
                          smoothing=args.target_smoothing, same_noise=args.same_noise, seed=args.seed,
                          window=args.target_window)
    cache = out / f"targets-{_pool_config(args).key()}-{config.key()}.npz"
    if cache.exists():
        targets = TargetPool.load(cache)
    else:
        t0 = time.time()
        targets = build_target_pool(pool, estimator, config)
        targets.save(cache)
        log.info("targets for %d pairs (%d copies each, %.0f s)", len(targets), config.copies, time.time() - t0)
    train_pool, val_pool = targets.split(min(args.val_pairs, len(targets) // 4), seed=args.seed)
    alpha_range = (1.0, args.alpha_max)

    def run_epoch(model, optimizer, step, n, rows, deadline):
        t0 = time.perf_counter()
        for k in range(step, step + n):
            if deadline is not None and time.time() >= deadline:
                return k
            batch = tuple(x.to(device) for x in train_pool.batch(k, args.batch_size, crop=args.crop, alpha_range=alpha_range,
                                                                     ones_prob=args.ones_prob, seed=args.seed))
            loss = train_target_step(model, optimizer, batch, beta=args.huber_beta)
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss is {loss} at step {k}")
            rows.append({"step": k + 1, "split": "train", "loss": loss})
            if args.print_every and (k + 1) % args.print_every == 0:
                log.info("step %d  loss %.5f px  (%.2f steps/s)", k + 1, loss, (k + 1 - step) / (time.perf_counter() - t0))
        return step + n

    def validate(model):
        return evaluate_targets(model, val_pool, batch_size=args.batch_size, crop=args.crop, alpha_range=alpha_range, beta=args.huber_beta,
                                seed=args.seed, device=device)

    return run_epoch, validate


def main(argv=None) -> int:
    """Run ``vibmag train`` with ``argv`` (a list of strings, or an argparse Namespace)."""
    args = argv if isinstance(argv, argparse.Namespace) else get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)  # also when the vibmag CLI configured logging first
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    out = Path(args.output_dir)
    pool_cfg = _pool_config(args)
    cache = Path(args.pool_cache) if args.pool_cache else out / f"pairs-{pool_cfg.key()}.npz"
    resumed = _check_inputs(args, cache, device)  # before any work: a bad --resume or --pool-cache is refused at once
    out.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in vars(args).items() if k not in ("resume", "time_limit", "export", "print_every", "threads", "device", "steps")}
    estimator = resolve_flow(args.flow)
    if isinstance(estimator, torch.nn.Module):
        estimator = estimator.to(device)
    loss_fn = FlowMagLoss(estimator, mag_weight=args.mag_weight, color_weight=args.color_weight, confidence_mask=args.confidence_mask)

    t_pool = time.time()
    pool = build_pool(pool_cfg, estimator=estimator, cache=cache)
    log.info("training pairs: %d %s (%.0f s)", len(pool), pool.counts, time.time() - t_pool)
    if args.objective == "independent-flow":
        run_epoch, validate = _target_objective(args, pool, estimator, out, device)
    else:
        run_epoch, validate = _paper_objective(args, pool, loss_fn, device)

    if resumed is not None:
        model, opt_state, step, saved = resumed
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        optimizer.load_state_dict(opt_state)
        torch.set_rng_state(load_tensors(args.resume, what="checkpoint")["torch_rng"])
        log.info("resumed from %s at step %d", args.resume, step)
    else:
        widths = tuple(int(w) for w in str(args.widths).split(","))
        with torch.random.fork_rng():  # seeded initialisation without touching the global generator
            torch.manual_seed(args.seed)
            model = Magnifier(args.variant, widths=widths, max_alpha=args.alpha_max, flow_smoothing=args.flow_smoothing, base=args.base,
                              confidence_encoding=args.confidence_encoding,
                              correction_floor=args.correction_floor).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        step = 0
    (out / "config.json").write_text(json.dumps({**config, "pool_config": asdict(pool_cfg)}, indent=2))
    n_params = sum(p.numel() for p in model.parameters())
    log.info("Magnifier %s: %d parameters, device %s, %d threads", model.config(), n_params, device, torch.get_num_threads())
    truth = truth_scenes(args.truth_scenes, seed=args.seed) if args.truth_scenes else []

    def evaluation(step: int, elapsed: float) -> dict:
        metrics = validate(model)
        if truth:
            metrics["truth_error"] = truth_error(model, estimator, truth)
        return {"step": step, "split": "val", **metrics, "seconds": round(elapsed, 1)}

    deadline = time.time() + args.time_limit if args.time_limit else None
    log_path = out / "log.csv"
    rows: list[dict] = []
    started = time.time()
    if step == 0:
        rows.append(evaluation(0, 0.0))
        _write_log(log_path, rows)
    while step < args.steps:
        n = min(args.epoch_steps, args.steps - step)
        reached = run_epoch(model, optimizer, step, n, rows, deadline)
        elapsed = time.time() - started
        for row in rows:
            row["seconds"] = round(elapsed, 1)
        step = reached
        rows.append(evaluation(step, elapsed))
        log.info("step %d  held-out %s  (%.0f s)", step, {k: round(v, 5) for k, v in rows[-1].items() if k in ("loss", "mag", "color", "truth_error")}, elapsed)
        _write_log(log_path, rows)
        save_checkpoint(out / "checkpoint.pt", model, optimizer, step, config)
        if deadline is not None and time.time() >= deadline:
            log.info("time limit reached at step %d", step)
            break
    options = " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
                       for k, v in config.items() if v is not None and v is not False)
    meta = {"steps": step, "command": f"vibmag train {options} --steps {step}", "n_params": n_params}
    export_weights(copy.deepcopy(model).cpu(), out / "weights.pt", metadata=meta)
    if args.export:
        export_weights(copy.deepcopy(model).cpu(), args.export, metadata=meta)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
