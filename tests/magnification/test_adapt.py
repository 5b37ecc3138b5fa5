"""Test-time adaptation returns a new model and never touches the original."""

from __future__ import annotations

import threading

import pytest
import torch
from conftest import randomised

import vibmag
from vibmag.magnification import adapt


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
