"""Flow targets whose noise is independent of the generator's input (issue 13; ``vibmag train --objective independent-flow``).

The paper's L_mag asks the flow of the output J to be alpha times F(I0, It)
computed on the *same* noisy pair the generator sees, so the target carries the
input's noise and the loss's optimum reproduces it (docs/model_card.md). Here
every clean training pair is rendered ``1 + copies`` times with independent
sensor noise of one level:

* copy 0 is the generator's input (I0, It), with vibmag's default flow
  F(I0, It) and its confidence;
* copies 1..K give the target: the mean over them of the default flow (or
  of Lucas-Kanade with a narrower ``window``, whose extra noise the mean of
  K copies pays for), or of the edge-aware Lucas-Kanade flow started from it
  (:func:`vibmag.magnification.splat.edge_aware_flow`, ``sigma`` > 0),
  optionally smoothed as the generator smooths its input (``smoothing``).
  The shipped model: K = 16, the default flow, smoothing 1.5 px
  (docs/model_card.md; the edge-aware target made noise-free scenes worse).

For a generator whose output is a z-ordered forward splat of It by
(alpha - 1) D (``Magnifier(base="splat")``), the flow of J from I0 is alpha D
wherever J's pixels are visible, so L_mag becomes ``alpha |D - target|``, and
since alpha multiplies every term alike the loss is judged per unit alpha:
``huber(D - target)`` (px of input motion). Because the target's noise is
independent of the input, the optimum of that loss is the expected flow given
the input (as in Noise2Noise, Lehtinen et al. 2018), not the input's own noise;
no magnified frame and no true displacement is ever used. ``same_noise=True``
builds the paper's same-noise control: the target from the input copy itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..flow import LucasKanade
from .data import PairPool
from .losses import flow_and_confidence
from .model import smooth_flow
from .splat import edge_aware_flow

__all__ = ["TargetPool", "TargetConfig", "build_target_pool", "flow_target_loss"]

_FIELDS = ("i0", "it", "flow", "confidence", "target", "sigma")  # TargetPool's arrays, in order


@dataclass(frozen=True)
class TargetConfig:
    """How the targets are made: ``copies`` independent renders, noise sigma log-uniform in ``noise_range`` on a
    share ``noise_prob`` of the pairs (the rest noise-free), the edge-aware window ``sigma`` px (0: the default
    estimator's flow itself), ``window`` the Lucas-Kanade window sigma (px) of the copies' flows (None: the training
    estimator's; averaging K copies lowers their noise by sqrt(K), which pays for a sharper window than the input's),
    and ``smoothing`` px: the mean flow of the copies smoothed as the generator smooths
    its input (:func:`vibmag.magnification.model.smooth_flow`, weighted by the copies' mean confidence), so on a
    noise-free pair the target is the generator's own starting field and only the noise is left to learn."""

    copies: int = 4
    noise_prob: float = 0.8
    noise_range: tuple[float, float] = (0.003, 0.03)
    sigma: float = 2.0
    smoothing: float = 0.0
    same_noise: bool = False
    seed: int = 0
    window: float | None = None

    def key(self) -> str:
        lo, hi = self.noise_range
        same = "-same" if self.same_noise else ""
        smooth = f"-g{self.smoothing:g}" if self.smoothing else ""
        window = f"-w{self.window:g}" if self.window is not None else ""
        return f"k{self.copies}-p{self.noise_prob:g}-n{lo:g}-{hi:g}-s{self.sigma:g}{smooth}{window}{same}-seed{self.seed}-v1"


@dataclass
class TargetPool:
    """The generator's inputs and their targets, P pairs of S x S px.

    ``i0``, ``it`` (P, S, S) float32 in [0, 1] (copy 0), ``flow`` (P, 2, S, S) px and ``confidence`` (P, S, S)
    (default estimator on copy 0), ``target`` (P, 2, S, S) px (mean edge-aware flow of the other copies),
    ``sigma`` (P,) the noise level.
    """

    i0: np.ndarray
    it: np.ndarray
    flow: np.ndarray
    confidence: np.ndarray
    target: np.ndarray
    sigma: np.ndarray

    def __len__(self) -> int:
        return len(self.i0)

    def save(self, path) -> None:
        np.savez(path, **{k: getattr(self, k) for k in _FIELDS})

    @classmethod
    def load(cls, path) -> TargetPool:
        with np.load(path, allow_pickle=False) as data:
            return cls(*(data[k] for k in _FIELDS))

    def split(self, n_val: int, seed: int = 0) -> tuple[TargetPool, TargetPool]:
        """``(train, held_out)``: ``n_val`` pairs drawn by ``seed`` are held out."""
        order = np.random.default_rng([seed, 99]).permutation(len(self))
        return self._take(np.sort(order[n_val:])), self._take(np.sort(order[:n_val]))

    def _take(self, index: np.ndarray) -> TargetPool:
        return TargetPool(*(getattr(self, k)[index] for k in _FIELDS))

    def batch(self, step: int, batch_size: int, *, crop: int = 96, alpha_range=(1.0, 256.0), ones_prob: float = 0.0, seed: int = 0):
        """The batch of ``step`` (a pure function of ``seed`` and ``step``).

        Random crops with flips and transposition (the flows' components follow), alpha log-uniform in
        ``alpha_range``, and with probability ``ones_prob`` a confidence of 1 (what ``vibmag.magnify`` passes
        with a band-passed displacement). Returns ``(i0, it, flow, confidence, target, alpha)``:
        (B, 1, c, c), (B, 1, c, c), (B, 2, c, c), (B, 1, c, c), (B, 2, c, c), (B, 1, 1, 1).
        """
        rng = np.random.default_rng([seed, 17, step])
        picks = [self.sample(int(k), crop, np.random.default_rng([seed, 18, step, b]), alpha_range, ones_prob)
                 for b, k in enumerate(rng.integers(0, len(self), batch_size))]
        return tuple(torch.from_numpy(np.stack(x)) for x in zip(*picks))

    def fixed(self, batch_size: int, *, crop: int = 96, alpha_range=(1.0, 256.0), seed: int = 0):
        """Deterministic batches over the whole pool (held-out evaluation), alphas drawn as :meth:`batch`'s."""
        for start in range(0, len(self), batch_size):
            picks = [self.sample(k, crop, np.random.default_rng([seed, 19, k]), alpha_range, 0.0)
                     for k in range(start, min(start + batch_size, len(self)))]
            yield tuple(torch.from_numpy(np.stack(x)) for x in zip(*picks))

    def sample(self, k: int, crop: int, rng: np.random.Generator, alpha_range, ones_prob: float):
        """One augmented pair: float32 arrays (1, c, c), (1, c, c), (2, c, c), (1, c, c), (2, c, c) and alpha (1, 1, 1)."""
        s = self.i0.shape[-1]
        y, x = (int(v) for v in rng.integers(0, s - crop + 1, 2))
        window = (Ellipsis, slice(y, y + crop), slice(x, x + crop))
        images = np.stack([self.i0[k], self.it[k], self.confidence[k]])[window]
        flows = np.stack([self.flow[k], self.target[k]])[window]  # (2, 2, c, c): [input, target] x [x, y]
        if rng.random() < 0.5:  # mirror x: the x components change sign
            images, flows = images[..., ::-1], flows[..., ::-1] * np.array([-1, 1], np.float32)[None, :, None, None]
        if rng.random() < 0.5:  # mirror y
            images, flows = images[..., ::-1, :], flows[..., ::-1, :] * np.array([1, -1], np.float32)[None, :, None, None]
        if rng.random() < 0.5:  # transpose: x and y swap, components too
            images, flows = images.swapaxes(-1, -2), flows.swapaxes(-1, -2)[:, ::-1]
        if rng.random() < ones_prob:
            images = np.concatenate([images[:2], np.ones_like(images[2:])])
        alpha = np.float32(np.exp(rng.uniform(*np.log(alpha_range))))
        images, flows = np.ascontiguousarray(images, np.float32), np.ascontiguousarray(flows, np.float32)
        return images[0:1], images[1:2], flows[0], images[2:3], flows[1], np.full((1, 1, 1), alpha, np.float32)


def build_target_pool(pairs: PairPool, estimator, config: TargetConfig = TargetConfig(), *, batch_size: int = 16, progress=None) -> TargetPool:
    """Render every clean pair of ``pairs`` 1 + ``config.copies`` times with independent noise and measure them.

    ``estimator`` is the frozen default flow (``(ref, moving) -> flow``). Pair k's noise draws come from
    ``numpy.random.default_rng([config.seed, 23, k])``, so a pool is a pure function of its inputs.
    ``progress(done, total)`` is called per batch.
    """
    n = len(pairs)
    out = {k: [] for k in _FIELDS}
    for start in range(0, n, batch_size):
        index = range(start, min(start + batch_size, n))
        rngs = [np.random.default_rng([config.seed, 23, k]) for k in index]
        sigmas = np.array([_draw_sigma(rng, config) for rng in rngs], np.float32)
        renders = [[_noisy(pairs.i0[k], pairs.it[k], s, rng) for _ in range(1 + config.copies)]
                   for k, s, rng in zip(index, sigmas, rngs)]
        copies = [torch.from_numpy(np.stack([r[c] for r in renders])) for c in range(1 + config.copies)]  # each (B, 2, S, S)
        with torch.no_grad():
            flow, confidence = flow_and_confidence(estimator, copies[0][:, :1], copies[0][:, 1:])
            judged = copies[:1] if config.same_noise else copies[1:]
            target = _mean_target(estimator, judged, config)
        out["i0"].append(copies[0][:, 0].numpy())
        out["it"].append(copies[0][:, 1].numpy())
        out["flow"].append(flow.numpy())
        out["confidence"].append((torch.ones_like(flow[:, 0]) if confidence is None else confidence[:, 0]).numpy())
        out["target"].append(target.numpy())
        out["sigma"].append(sigmas)
        if progress is not None:
            progress(index.stop, n)
    return TargetPool(*(np.concatenate(out[k]).astype(np.float32) for k in _FIELDS))


def _draw_sigma(rng: np.random.Generator, config: TargetConfig) -> float:
    if rng.random() >= config.noise_prob:
        return 0.0
    return float(np.exp(rng.uniform(*np.log(config.noise_range))))


def _noisy(i0: np.ndarray, it: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """(2, S, S) float32: the pair with independent Gaussian noise ``sigma`` (clipped to [0, 1])."""
    pair = np.stack([i0, it]).astype(np.float32)
    if sigma > 0:
        pair = np.clip(pair + rng.normal(0.0, sigma, pair.shape).astype(np.float32), 0.0, 1.0)
    return pair


def _mean_target(estimator, copies: list, config: TargetConfig) -> torch.Tensor:
    """The target (B, 2, S, S): the copies' mean flow, smoothed by ``config.smoothing`` px when set.

    The copies are measured by ``estimator``, or by vibmag's Lucas-Kanade with ``config.window`` when that is set.
    """
    if config.window is not None:
        estimator = LucasKanade(window=config.window)
    flows, weights = [], []
    for pair in copies:
        i0, it = pair[:, :1], pair[:, 1:]
        flow, confidence = flow_and_confidence(estimator, i0, it)
        flows.append(edge_aware_flow(i0, it, flow, sigma=config.sigma) if config.sigma > 0 else flow)
        weights.append(torch.ones_like(flow[:, :1]) if confidence is None else confidence)
    target = sum(flows) / len(flows)
    return smooth_flow(target, sum(weights) / len(weights), config.smoothing) if config.smoothing else target


def flow_target_loss(field: torch.Tensor, target: torch.Tensor, *, beta: float = 0.5, border: int = 4) -> torch.Tensor:
    """Huber loss (quadratic below ``beta`` px) between the generator's field D and the target, both (N, 2, H, W) px.

    ``border`` px at each side are left out (the flows are unreliable where content leaves the crop).
    """
    inner = (Ellipsis, slice(border, -border or None), slice(border, -border or None))
    return F.smooth_l1_loss(field[inner], target[inner], beta=beta)
