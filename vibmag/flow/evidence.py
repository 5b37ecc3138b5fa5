"""Evidence that measured motion is real: the gate that keeps static background still when magnifying.

:class:`MotionEvidence` accumulates, over a recording, how much better the
measured displacement explains the frames than "nothing moved", and turns it
into a spatially coherent weight: the decision is made per connected region of
changing pixels (an object, not a pixel) and per displacement component, and
the weight is 1 on a region and falls smoothly to 0 over the transition width
outside it.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.stats
import torch

from .filters import gaussian_kernel1d, separable_filter
from .api import batch_frames_for
from .warp import bspline_coefficients, sample_bspline_components

__all__ = ["MotionEvidence", "close_mask", "raised_cosine_fall"]

#: Smallest misfit energy per frame and pixel that counts as a change: a quarter of an 8-bit step, squared.
_CHANGE_FLOOR = (0.25 / 255.0) ** 2


class MotionEvidence:
    """Evidence, per region and per displacement component, that the estimated motion explains the frames.

    Accumulated per pixel over all frames: ``still = sum_t (I_t - I_0)^2``, the
    misfit of "nothing moved"; ``moved = sum_t (I_t(p + d_t(p)) - I_0)^2``,
    that of the estimated displacement; and ``without[c]``, that of the
    displacement with component ``c`` (0: x, 1: y) set to zero.
    :meth:`improvement` is the per-pixel ``1 - S[moved] / S[still]`` with
    ``S`` a Gaussian window of ``window`` px (as before); it is large where
    motion is real and well measured, at most what fitting a flow to noise
    gains on static background, negative where a neighbour's displacement
    leaked in.

    The gate (:meth:`component_weights`) does not decide per pixel. Pixels that
    changed beyond the noise (``still`` above three times the frame's median
    ``moved``, i.e. the noise left after motion compensation) are grouped into
    regions: grown by half the transition width, with gaps narrower than the
    transition width closed, so a bar whose texture is uniform along its
    length (it changes only at its edges) is one region. Each region decides
    for each component with its own summed evidence,
    ``1 - sum_R moved / sum_R without[c]``, a smooth step from ``low`` to
    ``high``: what that component of the displacement explains over the whole
    object. On a bar moving across its length the along-bar component is
    ill-posed (the aperture problem); what an estimator returns there explains
    nothing, or makes the fit worse, and is not magnified. The weight is 1 on
    the changing pixels of a region that decided for a component, and falls as
    a raised cosine to 0 at ``transition`` px outside them: background farther
    than the transition width from anything that moved stays exactly still.

    The thresholds (0.12 and 0.30) come from measurement on vibmag.synthetic
    object scenes (benchmarks/pipeline.py): static background >= 12 px from
    moving objects had per-pixel improvement 0.04 / 0.06 / 0.10 (median / 90th
    / 99th percentile) at noise 1/255, while objects vibrating by 0.1-0.15 px
    had 0.28 / 0.37 / 0.50 (10th / 50th / 90th); a region's summed evidence is
    dominated by its strongly changing pixels.
    """

    def __init__(self, reference: torch.Tensor, window: float = 3.0):
        self.reference = reference  # (1, 1, H, W)
        self.kernel = gaussian_kernel1d(window)
        self.n_frames = 0
        self.still = torch.zeros(reference.shape[-2:], dtype=torch.float64)
        self.moved = torch.zeros_like(self.still)
        self.without = torch.zeros((2, *reference.shape[-2:]), dtype=torch.float64)
        self.total = torch.zeros_like(self.still)  # sum_t I_t and sum_t I_t^2: the temporal variance, free of I_0's own noise
        self.total_sq = torch.zeros_like(self.still)
        self.compensated = torch.zeros_like(self.still)  # the same two sums of the motion-compensated frames
        self.compensated_sq = torch.zeros_like(self.still)

    def add(self, frames: torch.Tensor, flow: torch.Tensor) -> None:
        """Accumulate (n, 1, H, W) luminance frames and their (n, 2, H, W) displacement.

        In groups of :func:`vibmag.flow.api.batch_frames_for` frames, which keeps the intermediates small.
        """
        batch = batch_frames_for(*frames.shape[-2:])
        for start in range(0, frames.shape[0], batch):
            self._add_group(frames[start:start + batch], flow[start:start + batch])

    def _add_group(self, frames: torch.Tensor, flow: torch.Tensor) -> None:
        """:meth:`add` for one group of frames."""
        def misfit(images):
            return ((images - self.reference) ** 2).sum(dim=(0, 1)).double()

        self.n_frames += frames.shape[0]
        self.total += frames.sum(dim=(0, 1)).double()
        self.total_sq += (frames.double() ** 2).sum(dim=(0, 1))
        self.still += misfit(frames)
        aligned, *partial = sample_bspline_components(bspline_coefficients(frames), flow)
        self.moved += misfit(aligned)
        self.compensated += aligned.sum(dim=(0, 1)).double()
        self.compensated_sq += (aligned.double() ** 2).sum(dim=(0, 1))
        for c in range(2):  # partial[c]: the frames warped with component c of the displacement set to 0
            self.without[c] += misfit(partial[c])

    def improvement(self) -> np.ndarray:
        """(H, W) ``1 - S[moved] / S[still]`` in a Gaussian window (0 where nothing changed at all)."""
        return self._gain(self.still)

    def component_improvement(self) -> np.ndarray:
        """(2, H, W) ``1 - S[moved] / S[without[c]]``: what the x (0) and y (1) component add, per pixel."""
        return np.stack([self._gain(self.without[c]) for c in range(2)])

    def _windowed(self, energy: torch.Tensor) -> torch.Tensor:
        """(H, W) energy summed in the Gaussian window ``S``."""
        return separable_filter(energy[None, None], self.kernel)[0, 0]

    def _gain(self, reference: torch.Tensor) -> np.ndarray:
        """``1 - S[moved] / S[reference]`` in the Gaussian window (0 where the reference misfit is 0)."""
        base, moved = self._windowed(reference), self._windowed(self.moved)
        ratio = torch.where(base > 0, moved / base.clamp_min(1e-30), torch.ones_like(base))
        return (1.0 - ratio).numpy()

    def changed(self) -> np.ndarray:
        """(H, W) bool: pixels whose frames vary in time beyond the noise.

        The temporal variance, summed over the pixel's 3x3 neighbourhood (so it
        is not a one-sample decision even with two frames), above twice the
        frame's median of the same spread of the motion-compensated frames, the
        noise even where everything moves (more with few frames: the 99.99th percentile of
        Gaussian noise's chi-square over its median), and above a quarter of an
        8-bit step squared per frame. Not ``still``: that carries the reference frame's own noise
        once per frame, a heavy tail on static background.
        """
        def spread(total, total_sq):
            variance = (total_sq - total**2 / max(self.n_frames, 1)).clamp_min(0.0).numpy()
            return scipy.ndimage.uniform_filter(variance, size=3, mode="reflect") * 9.0

        dof = 9 * max(self.n_frames - 1, 1)  # Gaussian noise: spread / sigma^2 ~ chi-square with dof degrees of freedom
        factor = max(2.0, scipy.stats.chi2.ppf(1.0 - 1e-4, dof) / scipy.stats.chi2.median(dof))
        noise = float(np.median(spread(self.compensated, self.compensated_sq)))
        return spread(self.total, self.total_sq) > max(factor * noise, dof * _CHANGE_FLOOR)

    def regions(self, transition: float = 8.0) -> tuple[np.ndarray, int]:
        """Labels (H, W) of the regions (0: none) and their number: changed pixels grown and closed by the transition width."""
        return scipy.ndimage.label(close_mask(self.changed(), transition / 2, grow=True), structure=np.ones((3, 3), dtype=bool))

    def component_share(self) -> np.ndarray:
        """(2, H, W): the share of the misfit the displacement removes that each component removes, in a Gaussian window.

        ``S[without[c] - moved] / S[still - moved]``: about 1 for the only
        moving component, between 0 and 1 for each of an oblique motion's two,
        about 0 (or below) for a component that explains nothing (along a
        uniform bar, the aperture problem); 0 where the displacement removes no misfit.
        """
        removed = self._windowed(self.still - self.moved)
        shares = [self._windowed(self.without[c] - self.moved) for c in range(2)]
        return np.stack([torch.where(removed > 0, share / removed.clamp_min(1e-30), torch.zeros_like(share)).numpy()
                         for share in shares])

    def component_evidence(self, transition: float = 8.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """On each region, the medians over its changed pixels of :meth:`improvement`, :meth:`component_share` and :meth:`component_improvement`; 0 elsewhere.

        Returns ``(total (H, W), share (2, H, W), gain (2, H, W))``. Medians, not ratios of
        summed misfits: a change no motion explains (a shadow moving over the
        background, a flicker) must not outvote the pixels whose change the
        motion does explain.
        """
        labels, count = self.regions(transition)
        index = np.arange(1, count + 1)
        inside = np.where(self.changed(), labels, 0)

        def per_region(values):
            if not count:
                return np.zeros(labels.shape)
            return np.concatenate([[0.0], np.nan_to_num(scipy.ndimage.median(values, inside, index))])[labels]

        shares = np.stack([per_region(share) for share in self.component_share()])
        gains = np.stack([per_region(gain) for gain in self.component_improvement()])
        return per_region(self.improvement()), shares, gains

    def component_weights(self, low: float = 0.06, high: float = 0.15, transition: float = 8.0,
                          share_low: float = 0.05, share_high: float = 0.15, gain_low: float = 0.12,
                          gain_high: float = 0.30) -> np.ndarray:
        """(2, H, W) weight in [0, 1] of each displacement component's magnification (x first).

        A region is magnified as far as the displacement explains its change
        (its median :meth:`improvement`, a smooth step from ``low`` to
        ``high``), and in each component as far as that component takes part:
        the larger of its median :meth:`component_share` (a smooth step from
        ``share_low`` to ``share_high``; an oblique motion shares between x and
        y) and its median :meth:`component_improvement` (a smooth step from
        ``gain_low`` to ``gain_high``; a small mode beside a large drift in the
        other component has a small share but explains its own change). The
        thresholds are lower than a per-pixel decision
        needs: a region exists only where frames changed beyond the noise
        (:meth:`changed`), which static background does not, and its median
        pools many pixels.

        Parameters
        ----------
        low, high : float
            Step of a region's median improvement.
        transition : float
            Width (px) of the growth and closing of regions and of the raised
            cosine from 1 on the (closed) changed pixels to 0 outside them.
        share_low, share_high : float
            Step of a region's median component share.
        gain_low, gain_high : float
            Step of a region's median component improvement.
        """
        total, share, gain = self.component_evidence(transition)
        takes_part = np.maximum(_smooth_step(share, share_low, share_high), _smooth_step(gain, gain_low, gain_high))
        decided = _smooth_step(total, low, high)[None] * takes_part
        return decided * raised_cosine_fall(close_mask(self.changed(), transition), transition)

    def weight(self, transition: float = 8.0) -> np.ndarray:
        """(H, W) weight in [0, 1] for ``alpha - 1``: the larger of the two :meth:`component_weights`."""
        return self.component_weights(transition=transition).max(axis=0)


def _smooth_step(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 below ``low``, 1 above ``high``, ``3u^2 - 2u^3`` between."""
    u = np.clip((x - low) / (high - low), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def raised_cosine_fall(core: np.ndarray, transition: float) -> np.ndarray:
    """(H, W) float: 1 on the boolean ``core``, falling as a raised cosine to 0 at ``transition`` px outside it."""
    if transition <= 0 or not core.any():
        return core.astype(np.float64)
    distance = scipy.ndimage.distance_transform_edt(~core)
    return 0.5 + 0.5 * np.cos(np.pi * np.clip(distance / transition, 0.0, 1.0))


def close_mask(mask: np.ndarray, radius: float, *, grow: bool = False) -> np.ndarray:
    """Morphological closing of ``mask`` by a disc of ``radius`` px (gaps narrower than twice it filled); ``grow``: the dilation only, with the closing's gaps filled."""
    if radius <= 0 or not mask.any():
        return mask
    grown = scipy.ndimage.distance_transform_edt(~mask) <= radius
    closed = scipy.ndimage.distance_transform_edt(grown) > radius
    return grown if grow else (closed | mask)
