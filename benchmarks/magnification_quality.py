"""Magnification quality against exact ground truth (METHOD.md section 4), TTA, speed, training curves.

Protocol: vibmag.synthetic object scenes (textured objects over a textured
background, each object shifted by the input motion in its own random
direction), input motions 0.05 .. 1 px, alpha chosen so the magnified motion
is 5 px or 10 px, additive Gaussian noise sigma 0, 0.01, 0.03 on both input
frames. Each output frame is scored against the exact, noise-free magnified
render (:func:`vibmag.synthetic.render_magnified`) by SSIM and PSNR, and by
motion error: the mean end-point error (px) between OpenCV DIS flow from I0 to
the output and the true magnified displacement (DIS is independent of vibmag's
estimator; its own floor, DIS on the exact render, is listed). Borders of
``BORDER`` px, where content leaves the frame, are excluded.

Methods, in the same run: doing nothing (output = input), the linear Eulerian
magnifier (Wu et al. 2012; vibmag.magnification.classical.linear_magnify), the
Riesz-pyramid phase magnifier (Wadhwa et al. 2014; ``phase_magnify``; both
checked against published behaviour and an independent implementation by
benchmarks/classical_baselines.py), a Lagrangian warp of
It by (alpha - 1) times vibmag's flow (cubic B-spline resampling), and the
shipped magnifier, and, when their weights are given, the same-noise control, the
previously shipped model and the images-only variant.

Run::

    python benchmarks/magnification_quality.py --control-weights docs/training/flowmag_same_noise.pt \\
        --images-weights vibmag/models/flowmag_images.pt --previous-weights runs/flowmag_previous.pt \\
        --training-logs docs/training/flowmag_log.csv docs/training/flowmag_same_noise_log.csv

(``make bench`` runs exactly this, the previous weights taken from git as ``git show c78bf9e:vibmag/models/flowmag.pt``;
the training logs are the shipped weights' and the control's runs, kept in docs/training/.)
``--quality-only`` reruns the tables alone and keeps the timed figures (TTA, speed) of the last run;
``--tta-only`` the reverse. The columns ``+ gate`` are the shipped model and the splat with
``gate=True`` (vibmag.magnification.gate).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics import dis_flow, image_scores  # noqa: E402
from report import machine_line, markdown_table, save_figure, update_section  # noqa: E402

import vibmag  # noqa: E402
from vibmag.flow import sharpen_outlines, warp as flow_warp  # noqa: E402
from vibmag.magnification import adapt, load_model, magnify_pair, resolve_flow  # noqa: E402
from vibmag.magnification.classical import linear_magnify, phase_magnify  # noqa: E402
from vibmag.magnification.gate import pair_gate  # noqa: E402
from vibmag.magnification.splat import edge_aware_flow, splat_warp  # noqa: E402
from vibmag.synthetic import object_scene, render_magnified  # noqa: E402

MOTIONS = (0.05, 0.1, 0.2, 0.5, 1.0)
TARGETS = (5.0, 10.0)
NOISES = (0.0, 0.01, 0.03)
SHAPE = (128, 128)
BORDER = 12
ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- baselines


def linear_eulerian(i0: np.ndarray, it: np.ndarray, alpha: float) -> np.ndarray:
    """Linear Eulerian magnification (Wu et al. 2012) of the pair: :func:`vibmag.magnification.classical.linear_magnify`."""
    frames = torch.from_numpy(np.stack([i0, it]))
    return np.clip(linear_magnify(frames, alpha)[1].numpy(), 0.0, 1.0).astype(np.float32)


def riesz_phase(i0: np.ndarray, it: np.ndarray, alpha: float) -> np.ndarray:
    """Riesz-pyramid phase magnification (Wadhwa et al. 2014) of the pair: :func:`vibmag.magnification.classical.phase_magnify`."""
    frames = torch.from_numpy(np.stack([i0, it]))
    return np.clip(phase_magnify(frames, alpha)[1].numpy(), 0.0, 1.0).astype(np.float32)


def lagrangian(i0: np.ndarray, it: np.ndarray, alpha: float, estimator) -> np.ndarray:
    """Warp It by (alpha - 1) times vibmag's flow F(I0, It) (cubic B-spline resampling)."""
    a = torch.from_numpy(i0)[None, None]
    b = torch.from_numpy(it)[None, None]
    with torch.no_grad():
        flow = estimator(a, b)
        out = flow_warp(b, -(alpha - 1.0) * flow)
    return np.clip(out[0, 0].numpy(), 0.0, 1.0)


def forward_splat_warp(i0: np.ndarray, it: np.ndarray, alpha: float, estimator, *, edge_aware: bool = False,
                       gate: bool = False, sharpen: bool = False) -> np.ndarray:
    """It moved forward by (alpha - 1) times vibmag's flow, z-ordered (larger motion in front), holes from the backward warp
    (:func:`~vibmag.magnification.splat.splat_warp`: the shift is splatted, It resampled by cubic B-spline).

    The non-learned ablation of the shipped splat generator, and vibmag's ``"splat"`` method. ``edge_aware``: with the
    sharpest non-learned flow, edge-aware Lucas-Kanade (sigma 2 px) started from vibmag's (METHOD.md section 7).
    ``gate``: alpha - 1 times the pair's significance gate (:func:`~vibmag.magnification.gate.pair_gate`), as
    ``magnify_pair(..., gate=True)`` does for the model: the non-learned ablation of the gated model.
    ``sharpen``: the flow's outlines sharpened (:func:`vibmag.flow.sharpen_outlines`), as ``magnify_pair(...,
    sharpen=True)`` does for the model.
    """
    a = torch.from_numpy(i0)[None, None]
    b = torch.from_numpy(it)[None, None]
    with torch.no_grad():
        flow = estimator(a, b)
        if edge_aware:
            flow = edge_aware_flow(a, b, flow, sigma=2.0)
        if sharpen:
            flow = sharpen_outlines(a, b, flow)
        gain = (alpha - 1.0) * (pair_gate(a, b) if gate else 1.0)
        out = splat_warp(b, gain * flow)
    return np.clip(out[0, 0].numpy(), 0.0, 1.0)


def pipeline(ds, alpha: float, model) -> np.ndarray:
    """Frame 1 of ``vibmag.magnify(ds, alpha)`` with the default method (the shipped model) on the two-frame
    recording: what a user calling the pipeline on the pair gets (its motion-evidence gate, the displacement with
    confidence 1, so the model's learned correction is off: docs/model_card.md)."""
    out = vibmag.magnify(ds, alpha, model=model, progress=False)["frames"].values[1]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def learned(model, i0: np.ndarray, it: np.ndarray, alpha: float, estimator, *, gate: bool = False,
            sharpen: bool = False) -> np.ndarray:
    a = torch.from_numpy(i0)[None, None]
    b = torch.from_numpy(it)[None, None]
    out = magnify_pair(model, a, b, alpha, estimator=estimator, gate=gate, sharpen=sharpen)
    return np.clip(out[0, 0].numpy(), 0.0, 1.0)


def true_splat(it: np.ndarray, alpha: float, true_displacement: np.ndarray) -> np.ndarray:
    """The splat with the exact displacement (2, H, W) px in place of any estimate: the ceiling of every method that
    moves It's pixels forward (its only errors are the holes' backward-warp fill and the resampling). Not a method."""
    b = torch.from_numpy(it)[None, None]
    flow = torch.from_numpy(np.ascontiguousarray(true_displacement, dtype=np.float32))[None]
    with torch.no_grad():
        return np.clip(splat_warp(b, (alpha - 1.0) * flow)[0, 0].numpy(), 0.0, 1.0)


# --------------------------------------------------------------------------- metrics


def scores(out: np.ndarray, exact: np.ndarray, i0: np.ndarray, exact_flow: np.ndarray) -> dict:
    """SSIM, PSNR against the exact render; motion error = mean |DIS(I0, out) - DIS(I0, exact)| end-point error (px)."""
    c = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    epe = np.hypot(*(dis_flow(i0, out) - exact_flow)[:, c[0], c[1]])
    return {**image_scores(out, exact, BORDER), "motion": float(epe.mean())}


def make_scene(motion: float, noise: float, seed: int, shape=SHAPE):
    rng = np.random.default_rng([seed, 77])
    angles = rng.uniform(0, 2 * np.pi, 4)
    shifts = [(motion * np.cos(a), motion * np.sin(a)) for a in angles]
    return object_scene(shape, n_objects=4, motion=shifts, noise=noise, seed=1000 + seed)


# --------------------------------------------------------------------------- runs


def run_quality(models: dict, estimator, seeds=(0, 1, 2)) -> list[dict]:
    rows = []
    for noise in NOISES:
        for motion in MOTIONS:
            for target in TARGETS:
                alpha = target / motion
                acc: dict = {}
                for seed in seeds:
                    ds = make_scene(motion, noise, seed)
                    i0, it = (ds["frames"].values[k].astype(np.float32) for k in (0, 1))
                    gt = render_magnified(ds, alpha)
                    exact = gt["frames"].values[1].astype(np.float32)
                    true_disp = gt["true_displacement"].values[1]
                    exact_flow = dis_flow(i0, exact)
                    outputs = {
                        "nothing": it,
                        "linear": linear_eulerian(i0, it, alpha),
                        "phase": riesz_phase(i0, it, alpha),
                        "lagrangian": lagrangian(i0, it, alpha, estimator),
                        "splat": forward_splat_warp(i0, it, alpha, estimator),
                        "splat edge-aware": forward_splat_warp(i0, it, alpha, estimator, edge_aware=True),
                        **{name: learned(m, i0, it, alpha, estimator) for name, m in models.items()},
                        "splat + gate": forward_splat_warp(i0, it, alpha, estimator, gate=True),
                        "flowmag + gate": learned(models["flowmag"], i0, it, alpha, estimator, gate=True),
                        PIPELINE: pipeline(ds, alpha, models["flowmag"]),
                        "splat sharpened": forward_splat_warp(i0, it, alpha, estimator, sharpen=True),
                        "flowmag sharpened": learned(models["flowmag"], i0, it, alpha, estimator, sharpen=True),
                        "splat + gate, sharpened": forward_splat_warp(i0, it, alpha, estimator, gate=True, sharpen=True),
                        "flowmag + gate, sharpened": learned(models["flowmag"], i0, it, alpha, estimator, gate=True,
                                                             sharpen=True),
                        CEILING: true_splat(it, alpha, ds["true_displacement"].values[1]),
                    }
                    for name, out in outputs.items():
                        for key, value in scores(out, exact, i0, exact_flow).items():
                            acc.setdefault((name, key), []).append(value)
                    c = (slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
                    acc.setdefault(("dis floor", "motion"), []).append(float(np.hypot(*(exact_flow - true_disp)[c]).mean()))
                rows.append({"noise": noise, "motion": motion, "target": target, "alpha": alpha,
                             **{k: float(np.mean(v)) for k, v in acc.items()}})
                print(f"noise {noise} motion {motion} target {target}: " + ", ".join(
                    f"{n} {rows[-1][(n, 'ssim')]:.3f}/{rows[-1][(n, 'motion')]:.2f}" for n in outputs), flush=True)
    return rows


def tta_recording(seed: int = 4321, noise: float = 0.01):
    """A held-out synthetic recording: 4 objects vibrating sinusoidally (0.04 .. 1 px) over a still background."""
    return object_scene((128, 128), n_frames=12, n_objects=4, noise=noise, seed=seed, frame_rate="100 Hz")


def recording_motion_error(model, ds, alpha: float, estimator) -> float:
    frames = ds["frames"].values.astype(np.float32)
    gt = render_magnified(ds, alpha)
    errors = []
    for t in range(1, frames.shape[0]):
        out = learned(model, frames[0], frames[t], alpha, estimator)
        exact = gt["frames"].values[t].astype(np.float32)
        errors.append(scores(out, exact, frames[0], dis_flow(frames[0], exact))["motion"])
    return float(np.mean(errors))


def run_tta(model, estimator, *, alpha: float = 10.0, time_limit: float = 120.0) -> dict:
    ds = tta_recording()
    before = recording_motion_error(model, ds, alpha, estimator)
    t0 = time.perf_counter()
    adapted = adapt(model, ds, steps=100000, time_limit=time_limit, estimator=estimator, seed=0)
    seconds = time.perf_counter() - t0
    after = recording_motion_error(adapted, ds, alpha, estimator)
    return {"alpha": alpha, "before": before, "after": after, "steps": adapted.metadata["adapted_steps"], "seconds": seconds,
            "change": (after - before) / before}


def run_speed(model, estimator, *, size: int = 512, frames: int = 8, repeats: int = 2) -> dict:
    rng = np.random.default_rng(0)
    video = rng.random((frames, size, size)).astype(np.float32)
    from vibmag.magnification import magnify_frames

    magnify_frames(model, video[:2], 10.0, estimator=estimator)  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        magnify_frames(model, video, 10.0, estimator=estimator, batch_size=4)
        best = min(best, time.perf_counter() - t0)
    per_frame = best / (frames - 1)
    return {"size": size, "seconds_per_frame": per_frame, "fps": 1.0 / per_frame}


def plot_training(logs: dict, path: Path) -> Path:
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for (name, log), colour in zip(logs.items(), ["C0", "C1", "C2"]):
        rows = list(csv.DictReader(Path(log).open()))
        train = [(int(r["step"]), float(r["loss"])) for r in rows if r["split"] == "train"]
        val = [r for r in rows if r["split"] == "val"]
        if train:
            steps, loss = np.array(train).T
            k = 50
            smooth = np.convolve(loss, np.ones(k) / k, mode="valid") if len(loss) > k else loss
            axes[0].plot(steps[len(steps) - len(smooth):], smooth, color=colour, label=f"{name} train (50-step mean)")
        if val:
            steps, held_out = np.array([(int(r["step"]), float(r["loss"])) for r in val]).T
            axes[0].plot(steps, held_out, "o-", color=colour, ms=3, alpha=0.6, label=f"{name} held-out")
            axes[1].plot(steps, held_out / held_out[0], "o-", color=colour, ms=3, label=f"{name}: held-out loss")
            truth = np.array([(int(r["step"]), float(r["truth_error"])) for r in val if r.get("truth_error")])
            if len(truth):
                axes[1].plot(truth[:, 0], truth[:, 1] / truth[0, 1], "s--", color=colour, ms=3, label=f"{name}: error vs exact render")
    axes[0].set(xlabel="step", ylabel="loss", title="training loss", yscale="log")
    axes[1].set(xlabel="step", ylabel="relative to step 0", title="held-out loss and error against the exact render", yscale="log")
    return save_figure(fig, axes, path)


# --------------------------------------------------------------------------- report


#: The gated columns (``gate=True``: :mod:`vibmag.magnification.gate`), non-learned ablation first.
GATED = ["splat + gate", "flowmag + gate"]
#: ``vibmag.magnify`` on the pair as a two-frame recording (:func:`pipeline`).
PIPELINE = "vibmag.magnify"
SHARPENED = ["splat sharpened", "flowmag sharpened", "splat + gate, sharpened", "flowmag + gate, sharpened"]
#: The splat with the exact displacement: a ceiling, not a method.
CEILING = "ceiling: splat, true displacement"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(rows, names, tta, speed, command: str) -> str:
    methods = ["nothing", "linear", "phase", "lagrangian", "splat", "splat edge-aware", *names, *GATED, PIPELINE,
               *SHARPENED, CEILING]
    lines = [
        f"Command: `{command}`.",
        f"Machine: {machine_line()}.",
        "",
        f"vibmag.synthetic object scenes {SHAPE[0]}x{SHAPE[1]} px, 4 objects each shifted by the input motion in a random "
        "direction over a still background; alpha = target / motion; noise sigma on both input frames; mean of 3 scenes per row. "
        f"Scores exclude a {BORDER} px border. SSIM and PSNR (dB) against the exact noise-free magnified render; motion error = "
        "mean end-point error (px) between OpenCV DIS flow (medium preset) from I0 to the output and DIS flow from I0 to the "
        "exact render, so DIS's own smoothing of motion edges cancels (`dis floor`: the mean end-point error of DIS on the "
        "exact render against the true magnified displacement, for scale). `lagrangian` warps It by (alpha - 1) F(I0, It) with vibmag's flow; `splat` moves It forward "
        "by the same field (z-ordered splat, larger motion in front, holes from the backward warp; vibmag's `splat` method); "
        "`splat edge-aware` the same splat with the sharpest non-learned flow (edge-aware Lucas-Kanade, sigma 2 px, from vibmag's); "
        "`linear` is Wu et al. 2012 (`vibmag.magnification.classical.linear_magnify`, two-frame mode), `phase` the Riesz-pyramid "
        "phase magnifier (Wadhwa et al. 2014, `phase_magnify`; both checked in "
        "[Classical magnifiers against published behaviour](#classical-magnifiers-against-published-behaviour-issue-13)). `flowmag` is the shipped model (trained with the "
        "independent-flow objective), `same-noise control` the same architecture and budget trained with the target from the input "
        "pair itself (the paper's choice), `previous flowmag` the weights shipped before (paper losses, backward warp), "
        "`flowmag-images` the images-and-alpha-only variant (the paper's inputs). `+ gate`: alpha - 1 multiplied by the "
        "pair's significance gate (`magnify_pair(..., gate=True)`, `vibmag.magnification.gate`: magnified only where the "
        "flow is significant against its own uncertainty), for the shipped model and for the splat (its non-learned "
        "ablation). `vibmag.magnify`: the pipeline (default method, the shipped model) on the pair as a two-frame "
        "recording, with its motion-evidence gate and the displacement given with confidence 1 (the model's learned "
        "correction off): what a user calling `vibmag.magnify` gets. `sharpened`: the flow's motion outlines sharpened "
        "first (`magnify_pair(..., sharpen=True)`, `vibmag.flow.sharpen_outlines`: each pixel takes the neighbouring "
        "flow, 2-6 px away, whose photometric residual is lowest, when it beats its own by the pair's noise). "
        f"`{CEILING}`: the splat moved by the exact displacement instead of any estimate, the score every method "
        "that moves It's pixels forward could reach with perfect flow (holes filled by the backward warp); it uses the "
        "truth, so it is not a method.",
        "",
        "### SSIM (higher is better)",
        "",
        markdown_table(["noise", "motion px", "target px", "alpha", *methods],
                       [[r["noise"], r["motion"], r["target"], round(r["alpha"], 1), *[round(r[(m, "ssim")], 3) for m in methods]] for r in rows]),
        "",
        "### PSNR, dB (higher is better)",
        "",
        markdown_table(["noise", "motion px", "target px", *methods],
                       [[r["noise"], r["motion"], r["target"], *[round(r[(m, "psnr")], 2) for m in methods]] for r in rows]),
        "",
        "### Motion error, px (lower is better)",
        "",
        markdown_table(["noise", "motion px", "target px", *methods, "dis floor"],
                       [[r["noise"], r["motion"], r["target"], *[round(r[(m, "motion")], 3) for m in methods], round(r[("dis floor", "motion")], 3)] for r in rows]),
    ]
    main = names[0]
    beats_simple = all(r[(main, "ssim")] > max(r[("nothing", "ssim")], r[("linear", "ssim")]) for r in rows)
    noisy = [r for r in rows if r["noise"] >= 0.01]
    beats_lag = all(r[(main, "ssim")] > r[("lagrangian", "ssim")] for r in noisy)
    five = [r for r in rows if r["target"] == 5.0]
    worst5 = max(r[(main, "motion")] for r in five)
    five_clean = [r[(main, "motion")] for r in five if r["noise"] == 0.0]
    n_lag = sum(r[(main, "ssim")] > r[("lagrangian", "ssim")] for r in noisy)
    n_simple = sum(r[(main, "ssim")] > max(r[("nothing", "ssim")], r[("linear", "ssim")]) for r in rows)
    lines += [
        "",
        "### Targets (issue 5)",
        "",
        markdown_table(["target", "result", "status"], [
            ["beats nothing and linear (SSIM) at every level", f"{n_simple} of {len(rows)} rows", _verdict(beats_simple)],
            ["beats Lagrangian (SSIM) at noise >= 0.01", f"{n_lag} of {len(noisy)} rows", _verdict(beats_lag)],
            ["motion error <= 0.3 px at 5 px magnified motion", f"worst {worst5:.3f} px (noise-free rows: {max(five_clean):.3f} px)", _verdict(worst5 <= 0.3)],
            ["TTA <= 2 min lowers motion error >= 20 % (held-out recording)",
             f"{tta['before']:.3f} -> {tta['after']:.3f} px ({100 * tta['change']:+.1f} %) in {tta['seconds']:.0f} s, {tta['steps']} steps",
             _verdict(tta["change"] <= -0.2 and tta["seconds"] <= 125)],
            [f"inference >= 5 frames/s at {speed['size']}x{speed['size']}",
             f"{speed['fps']:.2f} frames/s ({1000 * speed['seconds_per_frame']:.0f} ms/frame incl. flow)", _verdict(speed["fps"] >= 5)],
        ]),
        "",
        "### Targets (issue 13)",
        "",
        issue13_targets(rows, names),
        "",
        f"TTA: held-out recording `object_scene((128, 128), n_frames=12, n_objects=4, noise=0.01, seed=4321)` (sinusoidal "
        f"object motions 0.04 .. 1 px), alpha {tta['alpha']:g}, motion error averaged over frames 1..11; "
        f"`vibmag.adapt(model, ds, steps=100000, time_limit=120)` (the default objective, `harmonic`: the model's own "
        f"field with the still background set still; docs/model_card.md; other held-out recordings: "
        f"`python benchmarks/tta_recordings.py`).",
        f"Speed: `magnify_frames` on 8 random {speed['size']}x{speed['size']} frames, batch 4, including vibmag's flow, best of 2.",
    ]
    return "\n".join(lines)


def previous_timed(path: Path = ROOT / "docs" / "magnification_quality.json") -> tuple[dict, dict]:
    """The speed and the test-time adaptation figures of the last run, as :func:`run_speed` and :func:`run_tta` return them."""
    saved = __import__("json").loads(path.read_text())
    return saved["speed"], saved["tta"]


def previous_quality(path: Path = ROOT / "docs" / "magnification_quality.json") -> tuple[list[dict], dict]:
    """The quality rows and the speed of the last full run, as :func:`run_quality` and :func:`run_speed` return them."""
    saved = __import__("json").loads(path.read_text())
    rows = [{(tuple(k.rsplit("/", 1)) if "/" in k else k): v for k, v in row.items()} for row in saved["rows"]]
    return rows, saved["speed"]


def issue13_targets(rows, names) -> str:
    """The issue-13 targets of the shipped model ``names[0]`` as a markdown table."""
    main = names[0]
    mean = {m: float(np.mean([r[(m, "ssim")] for r in rows])) for m in ["lagrangian", "splat", "splat edge-aware", *names]}
    best_plain = max(mean["lagrangian"], mean["splat"], mean["splat edge-aware"])
    clean10 = [r[(main, "ssim")] for r in rows if r["noise"] == 0.0 and r["target"] == 10.0]
    hard = [r for r in rows if r["noise"] == 0.01 and r["motion"] == 0.1 and r["target"] == 10.0]
    table = [
        ["mean SSIM over the table >= best non-learned (backward warp, splat, edge-aware splat) + 0.03",
         f"{mean[main]:.3f} vs {best_plain:.3f} ({mean[main] - best_plain:+.3f})", _verdict(mean[main] >= best_plain + 0.03)],
        ["noise 0, 10 px target: SSIM > 0.92 (every motion)", f"{min(clean10):.3f} - {max(clean10):.3f}", _verdict(min(clean10) > 0.92)],
    ]
    if (CEILING, "ssim") in rows[0]:
        clean_rows = [r for r in rows if r["noise"] == 0.0 and r["target"] == 10.0]
        sharp = [r[("flowmag sharpened", "ssim")] for r in clean_rows]
        ceiling = [r[(CEILING, "ssim")] for r in clean_rows]
        table.append(["the same with `sharpen=True`", f"{min(sharp):.3f} - {max(sharp):.3f} (ceiling, the splat with the "
                      f"exact displacement: {min(ceiling):.3f} - {max(ceiling):.3f})", _verdict(min(sharp) > 0.92)])
    if hard:
        table.append(["noise 0.01, 0.1 px, alpha 100: SSIM > 0.5", f"{hard[0][(main, 'ssim')]:.3f} (backward warp {hard[0][('lagrangian', 'ssim')]:.3f})",
                      _verdict(hard[0][(main, "ssim")] > 0.5)])
    gated_hard = hard[0][("flowmag + gate", "ssim")] if hard and ("flowmag + gate", "ssim") in hard[0] else None
    if gated_hard is not None:
        gated_mean = {m: float(np.mean([r[(m, "ssim")] for r in rows])) for m in GATED}
        table.append(["with the significance gate (`gate=True`): noise 0.01, 0.1 px, alpha 100: SSIM > 0.5",
                      f"{gated_hard:.3f} (splat + gate {hard[0][('splat + gate', 'ssim')]:.3f})", _verdict(gated_hard > 0.5)])
        table.append(["with the significance gate: mean SSIM >= splat + gate + 0.03",
                      f"{gated_mean['flowmag + gate']:.3f} vs {gated_mean['splat + gate']:.3f} "
                      f"({gated_mean['flowmag + gate'] - gated_mean['splat + gate']:+.3f})",
                      _verdict(gated_mean["flowmag + gate"] >= gated_mean["splat + gate"] + 0.03)])
    if ("flowmag + gate, sharpened", "ssim") in rows[0]:
        sharp_mean = {m: float(np.mean([r[(m, "ssim")] for r in rows])) for m in SHARPENED}
        for model, splat in (("flowmag sharpened", "splat sharpened"), ("flowmag + gate, sharpened", "splat + gate, sharpened")):
            table.append([f"`{model}`: mean SSIM >= `{splat}` + 0.03",
                          f"{sharp_mean[model]:.3f} vs {sharp_mean[splat]:.3f} ({sharp_mean[model] - sharp_mean[splat]:+.3f})",
                          _verdict(sharp_mean[model] >= sharp_mean[splat] + 0.03)])
    if "same-noise control" in names:
        control = mean["same-noise control"]
        table.append(["beats the same-noise control (mean SSIM)", f"{mean[main]:.3f} vs {control:.3f}", _verdict(mean[main] > control)])
    return markdown_table(["target", "result", "status"], table)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", default=None, help="flow-conditioned weights (default: the shipped model)")
    p.add_argument("--images-weights", default=None, help="images-only variant weights, for the side-by-side column")
    p.add_argument("--control-weights", default=None, help="the same-noise control's weights (vibmag train ... --same-noise)")
    p.add_argument("--previous-weights", default=None, help="an earlier shipped model, for a side-by-side column")
    p.add_argument("--training-logs", nargs="*", default=[], help="log.csv files (flow variant first) for docs/images/magnifier_training.png")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
    p.add_argument("--tta-seconds", type=float, default=120.0)
    p.add_argument("--tta-only", action="store_true",
                   help="rerun only test-time adaptation; the quality rows and the speed are read from "
                        "docs/magnification_quality.json (the last full run) and the report says so")
    p.add_argument("--quality-only", action="store_true",
                   help="rerun only the quality tables; test-time adaptation and the speed are read from "
                        "docs/magnification_quality.json (the last run) and the report says so")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    estimator = resolve_flow()
    models = {"flowmag": load_model(args.weights)}
    for name, path in (("same-noise control", args.control_weights), ("previous flowmag", args.previous_weights),
                       ("flowmag-images", args.images_weights)):
        if path:
            models[name] = load_model(path)
    if args.training_logs:
        names = ["flowmag", "same-noise control", "images-only"]
        plot_training(dict(zip(names, args.training_logs)), ROOT / "docs" / "images" / "magnifier_training.png")
    if args.tta_only:
        rows, speed = previous_quality()
    elif args.quality_only:
        speed, tta = previous_timed()
    else:
        speed = run_speed(models["flowmag"], estimator)
        print("speed", speed, flush=True)
    if not args.tta_only:
        rows = run_quality(models, estimator, seeds=tuple(range(args.seeds)))
    if not args.quality_only:
        tta = run_tta(models["flowmag"], estimator, time_limit=args.tta_seconds)
        print("tta", tta, flush=True)
    command = " ".join(["python benchmarks/magnification_quality.py", *(sys.argv[1:] if argv is None else argv)])
    missing = [name for name in models if (name, "ssim") not in rows[0]]
    if missing:
        raise SystemExit(f"--tta-only: the last full run has no column for {missing}; pass the same weights as it did")
    body = report(rows, list(models), tta, speed, command)
    if args.tta_only:
        body += ("\n\nThis run (`--tta-only`) reran test-time adaptation only; the quality tables and the speed are "
                 "those of the last full run, read from docs/magnification_quality.json.")
    if args.quality_only:
        body += ("\n\nThis run (`--quality-only`) reran the quality tables only; test-time adaptation and the speed "
                 "are those of the last run that measured them, read from docs/magnification_quality.json.")
    if args.no_write:
        print(body)
    else:
        print(update_section("Magnification quality", body))
        (ROOT / "docs" / "magnification_quality.json").write_text(__import__("json").dumps(
            {"rows": [{("/".join(k) if isinstance(k, tuple) else k): v for k, v in r.items()} for r in rows], "tta": tta, "speed": speed}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
