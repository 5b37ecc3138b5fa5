"""Training: the loss goes down, checkpoints resume bit-exactly, data are seeded and filtered."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from conftest import randomised

from vibmag.magnification import FlowMagLoss, Magnifier, load_model
from vibmag.magnification.data import Augment, PairPool, PoolConfig, build_pool, passes_motion_filter
from vibmag.magnification.train import export_weights, get_args_parser, load_checkpoint, main, train_step


def _tiny_pool(tmp_path):
    return build_pool(PoolConfig(size=48, objects=3, plates=2, natural=0, recordings=0, seed=1), cache=tmp_path / "pairs.npz")


def test_a_few_steps_lower_the_loss(tmp_path, estimator):
    pool = _tiny_pool(tmp_path)
    i0, it, _ = pool.batch(0, 4, Augment(crop=32, noise_prob=0.0, jitter=False))
    alpha = torch.full((4, 1, 1, 1), 6.0)
    model = randomised("flow")  # perturbed weights: far from the (smoothed) Lagrangian start
    loss_fn = FlowMagLoss(estimator)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = [train_step(model, loss_fn, opt, i0, it, alpha).value for _ in range(8)]
    assert losses[-1] < 0.8 * losses[0]


def _run(out, cache, steps, resume=None):
    argv = ["--output-dir", str(out), "--pool-cache", str(cache), "--pool-size", "40", "--pool", "2,1,0,0", "--crop", "32",
            "--batch-size", "2", "--widths", "8,16", "--steps", str(steps), "--epoch-steps", "2", "--val-pairs", "1",
            "--print-every", "0", "--threads", str(torch.get_num_threads())]
    if resume:
        argv += ["--resume", str(resume)]
    assert main(argv) == 0


def test_checkpoint_resume_is_bit_exact(tmp_path):
    cache = tmp_path / "pairs.npz"
    _run(tmp_path / "straight", cache, 4)
    _run(tmp_path / "split", cache, 2)
    _run(tmp_path / "split", cache, 4, resume=tmp_path / "split" / "checkpoint.pt")
    a, opt_a, step_a, cfg_a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b, opt_b, step_b, cfg_b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert step_a == step_b == 4
    assert {k: v for k, v in cfg_a.items() if k != "output_dir"} == {k: v for k, v in cfg_b.items() if k != "output_dir"}
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    for sa, sb in zip(opt_a["state"].values(), opt_b["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
    with (tmp_path / "split" / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows if r["split"] == "train"] == [1, 2, 3, 4]
    model = load_model(tmp_path / "straight" / "weights.pt")
    assert model.metadata["steps"] == 4


def test_export_and_load_round_trip(tmp_path):
    model = Magnifier("images", widths=(8, 16))
    path = export_weights(model, tmp_path / "w.pt", metadata={"note": "x"})
    again = load_model(path, resampling="bilinear")  # as trained; load_model's default resamples by B-spline
    assert again.config() == model.config() and again.metadata == {"note": "x"}
    assert load_model(path).resampling == "bspline"
    for pa, pb in zip(model.parameters(), again.parameters()):
        assert torch.equal(pa, pb)


def test_batches_are_a_pure_function_of_seed_and_step(tmp_path):
    pool = _tiny_pool(tmp_path)
    aug = Augment(crop=32)
    a = pool.batch(5, 3, aug, seed=2)
    b = pool.batch(5, 3, aug, seed=2)
    c = pool.batch(6, 3, aug, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    alpha = a[2].flatten()
    assert torch.all((alpha >= 1) & (alpha <= 16))
    assert PairPool.load(tmp_path / "pairs.npz").i0.shape == (5, 48, 48)


def test_motion_filter():
    assert passes_motion_filter(np.full(1000, 0.5))
    assert not passes_motion_filter(np.zeros(1000))  # static
    assert not passes_motion_filter(np.full(1000, 3.0))  # 80th percentile > 2 px
    spikes = np.full(10000, 0.5)
    spikes[:20] = 30.0
    assert not passes_motion_filter(spikes)  # 99.9th percentile > 20 px


def test_natural_image_pairs_have_known_small_motion():
    pytest.importorskip("skimage")
    pool = build_pool(PoolConfig(size=48, objects=0, plates=0, natural=2, recordings=0, seed=0))
    assert len(pool) == 2 and set(pool.source) == {"natural"}
    assert not np.array_equal(pool.i0[0], pool.it[0])


def test_parser_defaults_follow_the_paper():
    args = get_args_parser().parse_args(["--output-dir", "x"])
    assert args.lr == 3e-4 and args.mag_weight == 1.0 and args.color_weight == 10.0 and args.alpha_max == 16.0
