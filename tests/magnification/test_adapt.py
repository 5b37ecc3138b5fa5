"""Test-time adaptation returns a new model, never touches the original, and (shipped weights) does not make the
magnified frames worse against the exact render."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from conftest import randomised

import vibmag
from vibmag.errors import VibmagWarning
from vibmag.magnification import adapt, load_model, magnify_frames
from vibmag.synthetic import Mode, render_magnified


@pytest.fixture(scope="module")
def recording():
    return vibmag.synthetic.object_scene((48, 48), n_frames=4, n_objects=2, seed=5)


def test_adapt_returns_a_new_model_and_leaves_the_original(recording, estimator):
    model = randomised("flow")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []
    adapted = adapt(model, recording, steps=3, batch_size=2, crop=32, estimator=estimator, progress=lambda *a: calls.append(a))
    assert adapted is not model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in adapted.state_dict().items())
    assert [c[0] for c in calls] == [1, 2, 3] and adapted.metadata["adapted_steps"] == 3
    assert calls == [(1, 3), (2, 3), (3, 3)]  # progress(done, total)
    losses = adapted.metadata["adapted_losses"]
    assert len(losses) == 3 and all(isinstance(v, float) and v == v for v in losses)
    assert not adapted.training


def test_adapt_is_cancellable_and_time_bounded(recording, estimator):
    model = randomised("flow")
    cancel = threading.Event()
    adapted = adapt(model, recording, steps=50, batch_size=1, crop=32, estimator=estimator,
                    progress=lambda done, total: cancel.set() if done == 2 else None, cancel=cancel)
    assert adapted.metadata["adapted_steps"] == 2
    adapted = adapt(model, recording, steps=50, batch_size=1, crop=32, estimator=estimator, time_limit=0.0)
    assert adapted.metadata["adapted_steps"] == 0
    with pytest.raises(ValueError, match="at least 2 frames"):
        adapt(model, recording["frames"].values[:1], steps=1, estimator=estimator)


def test_adapting_the_shipped_model_keeps_it_as_close_to_the_exact_render(estimator):
    """The shipped weights adapted for a few steps on a held-out recording, scored by image error against its exact
    render (no flow estimator judges). These 8 steps: 0.02078 -> 0.02049 (-1.4 %; doing nothing 0.0426). Longer
    adaptation hurts: +11-15 % motion error after 2 min in benchmarks/magnification_quality.py, because its losses are the
    paper's, whose target shares the recording's noise (hence adapt's warning). The bound only says that a short
    adaptation does no harm; issue 13's target (20 % better) is not met (docs/model_card.md)."""
    motion = [Mode("30 Hz", 0.4, direction=20), Mode("30 Hz", 0.3, direction=140), Mode("30 Hz", 0.5, direction=260)]
    ds = vibmag.synthetic.object_scene((64, 64), n_frames=6, n_objects=3, motion=motion, frame_rate="200 Hz", noise=0.01, seed=5)
    frames, alpha = ds["frames"].values, 6.0  # 1.8-3 px magnified motion
    exact = render_magnified(ds, alpha)["frames"].values
    inner = (slice(1, None), slice(8, -8), slice(8, -8))

    def rmse(out):
        return float(np.sqrt(np.mean((out[inner] - exact[inner]) ** 2)))

    model = load_model()
    with pytest.warns(VibmagWarning, match="raised the motion error"):
        adapted = adapt(model, ds, steps=8, batch_size=2, crop=48, estimator=estimator)
    assert adapted.metadata["adapted_steps"] == 8
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), adapted.state_dict().values()))
    before = rmse(magnify_frames(model, frames, alpha, estimator=estimator))
    after = rmse(magnify_frames(adapted, frames, alpha, estimator=estimator))
    assert after <= 1.01 * before
    assert after < 0.6 * rmse(frames)
