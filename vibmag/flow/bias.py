"""The interpolation bias of sub-pixel displacement, measured on the reference itself and removed.

A cubic B-spline interpolates the fine part of a speckle pattern imperfectly,
so every estimator that resamples a frame reads sub-pixel shifts slightly
wrong: a periodic, odd function of the shift's fraction (the "S-curve", zero
at 0 and 0.5 px), about +1.2 % of a small shift on 3 px speckle and +3 % on
2 px (benchmarks/subpixel_bias.py). It is not noise: it repeats in every frame
and survives any averaging, so it enters spectrum amplitudes whole.

It is a property of the texture and the estimator, and it is reproduced
exactly by shifting the reference frame itself by a band-limited (Fourier)
shift: on rendered speckle plates Lucas-Kanade's gain on a true shift and on
the Fourier-shifted reference agree to 1e-4. So per pixel and component, with
``f`` the fraction's phase ``2 pi u``,

    b_x(u) = a1_xx sin(f_x) + a1_xy sin(f_y) + a2_xx sin(2 f_x) + a2_xy sin(2 f_y)      (and b_y alike),

two harmonics of each component's shift, whose coefficients come from four
tracks of the reference against its own Fourier shifts by 1/4 and 1/8 px in x
and in y (at 1/4 px the second harmonic vanishes, so it gives a1 directly).
:func:`remove_interpolation_bias` subtracts ``b(u)`` from a measured flow.

The same misfit leaves a residual that is not noise, and the uncertainty,
which estimates the noise from the residual, would count it: at 0.25/255 on
2 px speckle it predicted 1.9x the error once the bias was removed. The
noise-free residual of the 1/4 px shifts, squared, is kept per axis, and
:func:`misfit_energy` scales it to a frame's shift as ``2 sin^2(pi u)`` (1 at
1/4 px, 0 at whole pixels) for the uncertainty to subtract.

Frames are extended by mirroring before the Fourier shift, so within a few px
of the border the calibration sees mirrored content where a real frame shows
new content; the coefficients there are those of the nearest pixel
:data:`BORDER` px inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["BiasModel", "fourier_shift", "interpolation_bias", "remove_interpolation_bias", "misfit_energy"]

#: Calibration shifts (px): at 1/4 the second harmonic is zero, 1/8 then gives it.
SHIFTS = (0.25, 0.125)
#: Border (px) within which the calibration takes the coefficients of the nearest pixel further in.
BORDER = 8


def fourier_shift(image: torch.Tensor, shifts) -> list[torch.Tensor]:
    """``image`` (N, C, H, W) moved by each (dx, dy) px of ``shifts`` with a band-limited shift: ``J(p + (dx, dy)) = image(p)``.

    The image is mirrored to (2H, 2W) first, so the shift has no wrap-around
    jump at the borders; its spectrum is computed once, in float64, and each
    result returned in the image's dtype. The spectrum of a real image is
    Hermitian, so only its half is transformed (``rfft2``): the same result,
    at 512 x 512 px in a quarter of the time of the full transform.
    """
    height, width = image.shape[-2:]
    size = (2 * height, 2 * width)
    mirrored = torch.cat([image, image.flip(-1)], -1)
    spectrum = torch.fft.rfft2(torch.cat([mirrored, mirrored.flip(-2)], -2).double())
    kx = torch.fft.rfftfreq(size[1], dtype=torch.float64, device=image.device)[None, :]
    ky = torch.fft.fftfreq(size[0], dtype=torch.float64, device=image.device)[:, None]
    return [torch.fft.irfft2(spectrum * torch.exp(-2j * math.pi * (kx * dx + ky * dy)), s=size)[..., :height, :width]
            .to(image.dtype) for dx, dy in shifts]


@dataclass(frozen=True)
class BiasModel:
    """A reference's interpolation bias (:func:`interpolation_bias`)."""

    coefficients: tuple[torch.Tensor, ...]  # (a1_x, a1_y, a2_x, a2_y), each (N, 2, H, W) px
    misfit: tuple[torch.Tensor, torch.Tensor]  # squared noise-free residual of the 1/4 px shifts in x, in y
    wide_misfit: tuple[torch.Tensor, torch.Tensor] | None  # the same of the wide window's fit, when adaptive


def interpolation_bias(track: Callable, reference: torch.Tensor) -> BiasModel:
    """The bias model of a reference, from an estimator's ``track`` of the reference's own Fourier shifts.

    Parameters
    ----------
    track : callable
        (M, C, H, W) moving frames -> ``(flow (M, 2, H, W), residual, wide
        residual or None)`` against ``reference`` (a prepared Lucas-Kanade
        reference, uncorrected; residuals (M, 1, h, w), any padding); called
        once with the four shifted copies where N = 1, else once per shift.
    reference : torch.Tensor, shape (N, C, H, W)

    Returns
    -------
    BiasModel
        Its ``coefficients``: the first and second harmonic's of a shift
        along x and along y, channel 0 the error in x and 1 in y (px).
    """
    cases = [(shift, axis) for shift in SHIFTS for axis in (0, 1)]
    moved = fourier_shift(reference, [(shift, 0.0) if axis == 0 else (0.0, shift) for shift, axis in cases])
    if reference.shape[0] == 1:  # one call: the four frames share the reference
        flow, residual, wide = track(torch.cat(moved))
        results = list(zip(flow.split(1), residual.split(1), wide.split(1) if wide is not None else [None] * 4))
    else:  # one reference per moving frame: a call per shift
        results = [track(m) for m in moved]
    errors = {}
    for (shift, axis), (flow, _, _) in zip(cases, results):
        error = flow.detach().clone()
        error[:, axis] -= shift
        errors[shift, axis] = _inner_edge(error, BORDER)
    first = (errors[SHIFTS[0], 0], errors[SHIFTS[0], 1])
    # b(1/8) = a1 sin(pi/4) + a2 sin(pi/2)
    second = tuple(errors[SHIFTS[1], axis] - math.sin(math.pi / 4) * first[axis] for axis in (0, 1))
    quarter = results[:2]  # the 1/4 px shifts in x and in y: (flow, residual, wide residual)
    misfit = (quarter[0][1].detach() ** 2, quarter[1][1].detach() ** 2)
    wide_misfit = None if quarter[0][2] is None else (quarter[0][2].detach() ** 2, quarter[1][2].detach() ** 2)
    return BiasModel((*first, *second), misfit, wide_misfit)


def remove_interpolation_bias(flow: torch.Tensor, model: BiasModel) -> torch.Tensor:
    """``flow`` (N, 2, H, W) px minus the bias model at its own shifts (differentiable in ``flow``).

    The second harmonic comes from ``sin 2f = 2 sin f cos f`` and the sum is
    accumulated in place: at 16 frames of 512 x 512 px this took 0.12 s
    instead of 0.22-0.28 s for four sines and separate products (equal to 1e-7 px).
    """
    a1_x, a1_y, a2_x, a2_y = model.coefficients
    phase = (2 * math.pi) * flow
    first = torch.sin(phase)
    second = torch.cos(phase).mul_(first).mul_(2.0)
    error = a1_x * first[:, :1]
    error.addcmul_(a1_y, first[:, 1:]).addcmul_(a2_x, second[:, :1]).addcmul_(a2_y, second[:, 1:])
    return flow - error


def misfit_energy(misfit: tuple[torch.Tensor, torch.Tensor], flow: torch.Tensor) -> torch.Tensor:
    """(N, 1, h, w) the squared residual the interpolation misfit leaves at ``flow`` (N, 2, H, W; H <= h, W <= w).

    ``misfit`` is a :class:`BiasModel`'s (x, y) pair, on the residual's
    (padded) grid; the flow is extended to it by replicating its last row
    and column.
    """
    height, width = misfit[0].shape[-2:]
    flow = F.pad(flow, (0, width - flow.shape[-1], 0, height - flow.shape[-2]), mode="replicate")
    scale_x, scale_y = (2.0 * torch.sin(math.pi * flow[:, k:k + 1]) ** 2 for k in (0, 1))
    return misfit[0] * scale_x + misfit[1] * scale_y


def _inner_edge(maps: torch.Tensor, border: int) -> torch.Tensor:
    """``maps`` (N, C, H, W) with the outer ``border`` px replaced by the nearest value ``border`` px inside."""
    height, width = maps.shape[-2:]
    if height <= 2 * border or width <= 2 * border:
        return maps
    inner = maps[..., border:height - border, border:width - border]
    return F.pad(inner, (border, border, border, border), mode="replicate")
