"""A test-time target from the whole recording: the field, set to zero where the recording shows no motion (issue 13).

Every pair flow F(I0, It) of a recording shares frame 0's noise: I0's noise
shifts its apparent position by e0(p), the same in every pair, so a still
background wobbles by alpha e0 in every magnified frame, and no target made
of pairs against I0 alone is free of it (docs/model_card.md). Over the whole
recording a still pixel is recognisable. Per pixel, the fields of frames
t = t_1 .. t_P (P >= 4) are fitted, per component, with a constant, with

    F(t) = b + a_s sin(2 pi f t) + a_c cos(2 pi f t)

at each of the recording's strongest temporal frequencies f (cycles per
frame; SVD of the fields, each mode's best single sinusoid), and with a
quadratic trend b + c_1 t + c_2 t^2 (motion too slow for the recording to
resolve its frequency). The pixel moves only where the best of these
explains significantly more than the constant (an F test at
``significance``; the constant takes up e0). The target is the field itself
where the pixel moves and zero where it is still.

The sinusoid's own value at the reference (which would remove e0 from moving
pixels too) is not used: over a short recording the frequency is poorly
resolved, and on two of four held-out recordings the splat of that target
had a higher DIS motion error than the model's own field (docs/model_card.md).
No magnified frame and no true displacement is used.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

__all__ = ["moving_pixels", "still_background_target"]

#: Frequency grid step, in units of 1 / (the recording's span in frames): the fit's resolution is about 1 / span.
_FREQUENCY_STEP = 0.02


def still_background_target(fields: torch.Tensor, times, *, modes: int = 4, significance: float = 1e-3):
    """``fields`` where :func:`moving_pixels` finds motion, zero elsewhere.

    Parameters
    ----------
    fields : torch.Tensor, shape (P, 2, H, W)
        The displacement fields (px) of P >= 4 frames from the reference.
    times, modes, significance
        As :func:`moving_pixels`.

    Returns
    -------
    target : torch.Tensor, shape (P, 2, H, W)
    moving : torch.Tensor, shape (H, W), bool
    frequencies : list of float
        Cycles per frame.
    """
    moving, frequencies = moving_pixels(fields, times, modes=modes, significance=significance)
    return torch.where(moving, fields, torch.zeros_like(fields)), moving, frequencies


def moving_pixels(flows: torch.Tensor, times, *, modes: int = 4, significance: float = 1e-3):
    """Pixels whose flows over the recording follow a sinusoid or a trend significantly better than a constant.

    Parameters
    ----------
    flows : torch.Tensor, shape (P, 2, H, W)
        F(I0, It) of P >= 4 frames, px.
    times : sequence of int or float, length P
        Each frame's offset from the reference, in frames.
    modes : int
        Temporal modes (candidate frequencies) taken from the recording.
    significance : float
        False-alarm probability of the F test (4 and 2 (P - 3) degrees of freedom) on a still pixel.

    Returns
    -------
    moving : torch.Tensor, shape (H, W), bool
    frequencies : list of float
        The candidate frequencies, cycles per frame.

    Raises
    ------
    ValueError
        With fewer than 4 frames, or ``times`` not one per frame.
    """
    times = np.asarray(times, dtype=np.float64)
    count = flows.shape[0]
    if count < 4 or times.shape != (count,):
        raise ValueError(f"the motion test needs flows of at least 4 frames and one time each, got {count} flows and "
                         f"times of shape {times.shape}")
    samples = flows.detach().double().cpu().numpy().reshape(count, -1)
    frequencies = [_best_frequency(mode, times) for mode in _temporal_modes(samples, modes)]
    still_rss = _component_sum(((samples - samples.mean(0)) ** 2).sum(0))
    designs = [_sinusoid_design(times, f) for f in frequencies] + [_trend_design(times)]
    best_rss = np.min([_component_sum(_fit_rss(samples, design)) for design in designs], axis=0)
    dof = 2 * (count - 3)
    ratio = ((still_rss - best_rss) / 4.0) / np.maximum(best_rss / dof, 1e-30)
    moving = ratio > stats.f.ppf(1.0 - significance, 4, dof)
    return torch.from_numpy(moving.reshape(flows.shape[-2:])).to(flows.device), frequencies


def _component_sum(per_value: np.ndarray) -> np.ndarray:
    """(2 H W,) values ordered (component, y, x) -> (H W,) sums over the two components."""
    return per_value.reshape(2, -1).sum(0)


def _temporal_modes(samples: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` strongest temporal modes (count, P) of (P, values) samples, each value's mean removed.

    The left singular vectors, from the (P, P) Gram matrix's eigenvectors (strongest first): no SVD of the whole
    (P, values) matrix.
    """
    centred = samples - samples.mean(0)
    vectors = np.linalg.eigh(centred @ centred.T)[1][:, ::-1]
    return vectors[:, :min(count, vectors.shape[1])].T


def _best_frequency(mode: np.ndarray, times: np.ndarray) -> float:
    """The frequency (cycles per frame, in (0, 0.5]) of the sinusoid plus constant that fits ``mode`` (P,) best."""
    span = times.max() - min(times.min(), 0.0)
    grid = np.arange(_FREQUENCY_STEP / span, 0.5 + 1e-12, _FREQUENCY_STEP / span)
    residuals = [_fit_rss(mode[:, None], _sinusoid_design(times, f))[0] for f in grid]
    return float(grid[int(np.argmin(residuals))])


def _sinusoid_design(times: np.ndarray, frequency: float) -> np.ndarray:
    """(P, 3) columns 1, sin, cos at ``frequency`` (cycles per frame)."""
    phase = 2.0 * np.pi * frequency * times
    return np.stack([np.ones_like(times), np.sin(phase), np.cos(phase)], axis=1)


def _trend_design(times: np.ndarray) -> np.ndarray:
    """(P, 3) columns 1, t, t^2 (t scaled to [-1, 1]): motion slower than the recording resolves as a frequency."""
    scaled = (times - times.mean()) / max(np.ptp(times) / 2.0, 1e-12)
    return np.stack([np.ones_like(times), scaled, scaled**2], axis=1)


def _fit_rss(samples: np.ndarray, design: np.ndarray) -> np.ndarray:
    """Residual sum of squares per value of the least-squares fit of (P, values) samples by the (P, 3) ``design``."""
    coefficients = np.linalg.lstsq(design, samples, rcond=None)[0]
    return ((samples - design @ coefficients) ** 2).sum(0)
