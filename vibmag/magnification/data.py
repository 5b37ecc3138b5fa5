"""Training pairs (I0, It) for the self-supervised magnifier (METHOD.md section 1).

Four sources, all unlabelled as far as training is concerned (no magnified
ground truth is ever made here):

``objects``
    :func:`vibmag.synthetic.object_scene` pairs: textured objects, each with
    its own sub-pixel shift, over a still or slightly moving background.
``plates``
    :func:`vibmag.synthetic.vibrating_plate` pairs: speckle moved by rigid and
    bending modes.
``natural``
    scikit-image's bundled photographs (``skimage.data``), moved by a random
    smooth displacement field (a translation plus a low-frequency random
    field). The warp is applied at ``k`` times the resolution with cubic
    splines and both frames are then box-downsampled by ``k``, so the motion
    is sub-pixel exact without the low-pass of a bilinear resample.
``recordings``
    (frame 0, frame i) pairs of the real recordings in :mod:`vibmag.sample_data`.

Every pair must pass the paper's motion filter (:func:`passes_motion_filter`):
80th percentile of the flow magnitude <= 2 px, 99.9th <= 20 px, not static.
Synthetic and natural pairs are filtered by their known motion, recordings by
the frozen flow estimator.

Randomness: every draw comes from ``numpy.random.default_rng([seed, ...])``;
no global state. :class:`PairPool` is built once (optionally cached to an
``.npz``); :meth:`PairPool.batch` draws the batch of a given training step
as a pure function of ``(seed, step)``, so a resumed run sees exactly the
batches an uninterrupted one would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.ndimage
import torch

from .. import sample_data
from ..flow.filters import to_luminance_array
from ..synthetic import Mode, object_scene, vibrating_plate
from .losses import flow_only

__all__ = [
    "passes_motion_filter",
    "PairPool",
    "PoolConfig",
    "build_pool",
    "Augment",
    "NATURAL_IMAGES",
]

log = logging.getLogger(__name__)

# skimage.data loaders whose images ship inside the scikit-image wheel (no download)
NATURAL_IMAGES = (
    "astronaut", "camera", "coins", "moon", "text", "page", "coffee", "chelsea", "rocket",
    "brick", "grass", "gravel", "clock", "hubble_deep_field", "immunohistochemistry", "retina", "cell",
)
RECORDINGS = ("showcase_beams", "speckle_beam", "ball")
_SOURCE_STREAMS = {"objects": 11, "plates": 12, "natural": 13, "recordings": 14}


def passes_motion_filter(magnitude: np.ndarray, *, p80_max: float = 2.0, p999_max: float = 20.0, static_below: float = 0.02) -> bool:
    """The paper's filter on a flow-magnitude map (px).

    Keeps a pair when the 80th percentile is <= ``p80_max``, the 99.9th <=
    ``p999_max``, and the 99th reaches ``static_below`` (so it is not static).
    """
    m = np.asarray(magnitude, dtype=np.float64).ravel()
    p80, p99, p999 = np.percentile(m, [80, 99, 99.9])
    return bool(p80 <= p80_max and p999 <= p999_max and p99 >= static_below)


@dataclass
class PoolConfig:
    """How many pairs of each source, and their size (px, square)."""

    size: int = 128
    objects: int = 400
    plates: int = 100
    natural: int = 600
    recordings: int = 60
    seed: int = 0

    def key(self) -> str:
        return f"s{self.size}-o{self.objects}-p{self.plates}-n{self.natural}-r{self.recordings}-seed{self.seed}-v1"


@dataclass
class PairPool:
    """Frame pairs ``i0``, ``it`` (P, S, S) float32 in [0, 1] and their ``source`` names (P,)."""

    i0: np.ndarray
    it: np.ndarray
    source: np.ndarray
    counts: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.i0)

    def save(self, path) -> None:
        np.savez(path, i0=self.i0, it=self.it, source=self.source)

    @classmethod
    def load(cls, path) -> PairPool:
        with np.load(path) as data:
            source = data["source"]
            names, counts = np.unique(source, return_counts=True)
            return cls(data["i0"], data["it"], source, dict(zip(names.tolist(), counts.tolist())))

    def split(self, n_val: int, seed: int = 0) -> tuple[PairPool, PairPool]:
        """A held-out pool of ``n_val`` pairs and the rest, drawn by ``seed``."""
        order = np.random.default_rng([seed, 99]).permutation(len(self))
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        return (
            PairPool(self.i0[train], self.it[train], self.source[train]),
            PairPool(self.i0[val], self.it[val], self.source[val]),
        )

    def batch(self, step: int, batch_size: int, augment: Augment, seed: int = 0):
        """The training batch of ``step``: ``(i0, it, alpha)``, (B, 1, c, c), (B, 1, c, c), (B, 1, 1, 1)."""
        rng = np.random.default_rng([seed, 7, step])
        index = rng.integers(0, len(self), batch_size)
        i0s, its, alphas = [], [], []
        for b, k in enumerate(index):
            a, t, alpha = augment(self.i0[k], self.it[k], np.random.default_rng([seed, 8, step, b]))
            i0s.append(a)
            its.append(t)
            alphas.append(alpha)
        i0 = torch.from_numpy(np.stack(i0s)[:, None])
        it = torch.from_numpy(np.stack(its)[:, None])
        return i0, it, torch.tensor(alphas, dtype=torch.float32).view(-1, 1, 1, 1)

    def fixed(self, batch_size: int, augment: Augment, seed: int = 0, limit: int | None = None):
        """Deterministic batches over the whole pool (for evaluation)."""
        n = len(self) if limit is None else min(limit, len(self))
        for start in range(0, n, batch_size):
            i0s, its, alphas = [], [], []
            for k in range(start, min(start + batch_size, n)):
                a, t, alpha = augment(self.i0[k], self.it[k], np.random.default_rng([seed, 9, k]))
                i0s.append(a)
                its.append(t)
                alphas.append(alpha)
            yield (
                torch.from_numpy(np.stack(i0s)[:, None]),
                torch.from_numpy(np.stack(its)[:, None]),
                torch.tensor(alphas, dtype=torch.float32).view(-1, 1, 1, 1),
            )


@dataclass
class Augment:
    """Shared augmentation of a pair plus the alpha draw.

    Random crop to ``crop`` px, horizontal / vertical flips and transposition
    (rotations by multiples of 90 degrees, exact; the paper's +-15 degree
    rotations would resample), colour jitter shared by both frames (gain,
    offset, gamma), independent Gaussian noise per frame with probability
    ``noise_prob`` (sigma log-uniform in ``noise_range``), and alpha
    log-uniform in ``alpha_range``.
    """

    crop: int = 96
    alpha_range: tuple[float, float] = (1.0, 16.0)
    jitter: bool = True
    noise_prob: float = 0.5
    noise_range: tuple[float, float] = (0.002, 0.04)

    def __call__(self, i0: np.ndarray, it: np.ndarray, rng: np.random.Generator):
        h, w = i0.shape
        c = self.crop
        if h < c or w < c:
            pad = ((0, max(0, c - h)), (0, max(0, c - w)))
            i0, it = np.pad(i0, pad, mode="reflect"), np.pad(it, pad, mode="reflect")
            h, w = i0.shape
        y = int(rng.integers(0, h - c + 1))
        x = int(rng.integers(0, w - c + 1))
        pair = np.stack([i0[y : y + c, x : x + c], it[y : y + c, x : x + c]]).astype(np.float32)
        if rng.random() < 0.5:
            pair = pair[:, :, ::-1]
        if rng.random() < 0.5:
            pair = pair[:, ::-1, :]
        if rng.random() < 0.5:
            pair = pair.transpose(0, 2, 1)
        if self.jitter:
            gain = rng.uniform(0.6, 1.3)
            offset = rng.uniform(-0.15, 0.15)
            gamma = np.exp(rng.uniform(np.log(0.7), np.log(1.4)))
            pair = np.clip(np.clip(pair, 0, 1) ** gamma * gain + offset, 0.0, 1.0)
        if self.noise_prob > 0 and rng.random() < self.noise_prob:
            sigma = np.exp(rng.uniform(*np.log(self.noise_range)))
            pair = np.clip(pair + rng.normal(0.0, sigma, pair.shape), 0.0, 1.0)
        alpha = float(np.exp(rng.uniform(*np.log(self.alpha_range))))
        pair = np.ascontiguousarray(pair, dtype=np.float32)
        return pair[0], pair[1], alpha


# --------------------------------------------------------------------------- sources


def _object_pairs(n: int, size: int, seed: int):
    def render(rng):
        n_obj = int(rng.integers(1, 7))
        motion = [tuple(_random_shift(rng, 0.02, 2.0)) for _ in range(n_obj)]
        background = tuple(_random_shift(rng, 0.01, 0.5)) if rng.random() < 0.3 else None
        return object_scene((size, size), n_objects=n_obj, motion=motion, background_motion=background,
                            seed=int(rng.integers(0, 2**31)), supersample=3)

    return _filtered_scenes(n, np.random.default_rng([seed, _SOURCE_STREAMS["objects"]]), render)


def _plate_pairs(n: int, size: int, seed: int):
    def render(rng):
        modes = [
            Mode("50 Hz", float(np.exp(rng.uniform(np.log(0.02), np.log(2.0)))), direction=float(rng.uniform(0, 360)),
                 shape=str(rng.choice(["rigid", "bending", "bending2"])), phase=float(rng.uniform(0, 2 * np.pi)))
            for _ in range(int(rng.integers(1, 3)))
        ]
        return vibrating_plate((size, size), n_frames=2, frame_rate="1 kHz", modes=modes, seed=int(rng.integers(0, 2**31)),
                               speckle_size=float(rng.uniform(1.5, 6.0)), supersample=3)

    return _filtered_scenes(n, np.random.default_rng([seed, _SOURCE_STREAMS["plates"]]), render)


def _filtered_scenes(n: int, rng: np.random.Generator, render):
    """(frame 0, frame 1) of up to ``n`` scenes ``render(rng)`` whose true motion passes the filter; 50 n tries at most."""
    made = 0
    for _ in range(50 * n):
        if made >= n:
            return
        ds = render(rng)
        disp = ds["true_displacement"].values[1]
        if passes_motion_filter(np.hypot(disp[0], disp[1])):
            made += 1
            yield ds["frames"].values[0], ds["frames"].values[1]


def _random_shift(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    magnitude = np.exp(rng.uniform(np.log(low), np.log(high)))
    angle = rng.uniform(0, 2 * np.pi)
    return magnitude * np.array([np.cos(angle), np.sin(angle)])


def _natural_images() -> list[np.ndarray]:
    try:  # scikit-image is in the optional 'train' extra: imported only when natural pairs are made
        import skimage.data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("natural-image training pairs need scikit-image (pip install 'vibmag[train]')") from exc
    images = []
    for name in NATURAL_IMAGES:
        img = np.asarray(getattr(skimage.data, name)(), dtype=np.float64)
        if img.ndim == 3:
            img = to_luminance_array(img)
        images.append((img / (255.0 if img.max() > 1.0 else 1.0)).astype(np.float64))
    return images


def smooth_field(rng: np.random.Generator, size: int, *, amplitude: float, cells: int) -> np.ndarray:
    """A random smooth displacement field (2, size, size) px, x first, peak about ``amplitude``."""
    coarse = rng.normal(0.0, 1.0, (2, cells + 1, cells + 1))
    zoom = size / (cells + 1)
    fine = np.stack([scipy.ndimage.zoom(c, zoom, order=3, mode="nearest")[:size, :size] for c in coarse])
    fine = np.pad(fine, ((0, 0), (0, size - fine.shape[1]), (0, size - fine.shape[2])), mode="edge")
    return amplitude * fine / max(np.abs(fine).max(), 1e-12)


def _natural_pairs(n: int, size: int, seed: int):
    if n <= 0:
        return
    rng = np.random.default_rng([seed, _SOURCE_STREAMS["natural"]])
    images = _natural_images()
    made = 0
    for _ in range(50 * n):
        if made >= n:
            return
        img = images[int(rng.integers(len(images)))]
        k = int(rng.integers(2, 4))  # render at k x resolution, then box-downsample
        big = size * k
        if min(img.shape) < big:
            continue
        y0 = int(rng.integers(0, img.shape[0] - big + 1))
        x0 = int(rng.integers(0, img.shape[1] - big + 1))
        crop = img[y0 : y0 + big, x0 : x0 + big]
        field_lo = np.zeros((2, size, size))
        if rng.random() < 0.7:
            field_lo += _random_shift(rng, 0.02, 1.5).reshape(2, 1, 1)
        if rng.random() < 0.8:
            field_lo += smooth_field(rng, size, amplitude=float(np.exp(rng.uniform(np.log(0.02), np.log(1.5)))), cells=int(rng.integers(1, 6)))
        if not passes_motion_filter(np.hypot(field_lo[0], field_lo[1])):
            continue
        # the field at material points, in high-res px; frame t shows the texture at X with X + W(X) = q
        field_hi = np.stack([scipy.ndimage.zoom(c, k, order=1, mode="nearest") for c in field_lo]) * k
        qy, qx = np.mgrid[0:big, 0:big].astype(np.float64)
        xs, ys = qx.copy(), qy.copy()
        for _ in range(4):  # fixed point X = q - W(X)
            wx = scipy.ndimage.map_coordinates(field_hi[0], [ys, xs], order=1, mode="nearest")
            wy = scipy.ndimage.map_coordinates(field_hi[1], [ys, xs], order=1, mode="nearest")
            xs, ys = qx - wx, qy - wy
        moved = scipy.ndimage.map_coordinates(crop, [ys, xs], order=3, mode="mirror")
        i0 = crop.reshape(size, k, size, k).mean((1, 3))
        it = np.clip(moved, 0, 1).reshape(size, k, size, k).mean((1, 3))
        made += 1
        yield i0.astype(np.float32), it.astype(np.float32)


def _recording_pairs(n: int, size: int, seed: int, estimator):
    """(frame 0, frame i) crops of the shipped recordings that pass the filter by the estimator's flow."""
    rng = np.random.default_rng([seed, _SOURCE_STREAMS["recordings"]])
    candidates = []
    for name in RECORDINGS:
        frames = sample_data.open_sample(name)["frames"].values.astype(np.float32)
        if frames.ndim == 4:
            frames = frames.mean(-1)
        for i in range(1, frames.shape[0]):
            candidates.append((name, frames[0], frames[i]))
    order = rng.permutation(len(candidates))
    made = 0
    for k in order:
        if made >= n:
            return
        _, f0, fi = candidates[k]
        h, w = f0.shape
        hh, ww = min(h, size), min(w, size)
        y = int(rng.integers(0, h - hh + 1))
        x = int(rng.integers(0, w - ww + 1))
        a, b = f0[y : y + hh, x : x + ww], fi[y : y + hh, x : x + ww]
        if estimator is not None:
            with torch.no_grad():
                flow = flow_only(estimator, torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])[0].numpy()
            if not passes_motion_filter(np.hypot(flow[0], flow[1])):
                continue
        pad = ((0, size - hh), (0, size - ww))
        made += 1
        yield np.pad(a, pad, mode="reflect"), np.pad(b, pad, mode="reflect")


def build_pool(config: PoolConfig, *, estimator=None, cache: str | Path | None = None, progress=None) -> PairPool:
    """Make (or load from ``cache``) the training pairs of ``config``.

    ``estimator`` (a flow callable) filters the real-recording pairs; without
    one, recordings are skipped. ``progress(done, total)`` is called as pairs
    are made.
    """
    if cache is not None:
        cache = Path(cache)
        if cache.exists():
            log.info("loading training pairs from %s", cache)
            return PairPool.load(cache)
    sources = [
        ("objects", _object_pairs(config.objects, config.size, config.seed)),
        ("plates", _plate_pairs(config.plates, config.size, config.seed)),
        ("natural", _natural_pairs(config.natural, config.size, config.seed)),
    ]
    if estimator is not None and config.recordings:
        sources.append(("recordings", _recording_pairs(config.recordings, config.size, config.seed, estimator)))
    total = config.objects + config.plates + config.natural + (config.recordings if estimator is not None else 0)
    i0s, its, names = [], [], []
    for name, pairs in sources:
        for a, b in pairs:
            i0s.append(np.asarray(a, dtype=np.float32))
            its.append(np.asarray(b, dtype=np.float32))
            names.append(name)
            if progress is not None:
                progress(len(names), total)
    pool = PairPool(np.stack(i0s), np.stack(its), np.array(names))
    pool.counts = {n: names.count(n) for n in dict.fromkeys(names)}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        pool.save(cache)
    return pool
