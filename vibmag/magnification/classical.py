"""The classical Eulerian magnifiers: linear (Wu et al. 2012) and Riesz phase (Wadhwa et al. 2014).

Both decompose each frame into a Laplacian pyramid, find the change of each
band relative to the reference frame (intensity for the linear method, local
phase for the phase method), keep the part of that change selected by a
temporal filter, and add ``alpha - 1`` times it back, so the selected motion
appears ``alpha`` times as large and everything else stays as recorded.

Each method is split in two steps so that long recordings can be streamed
(:mod:`vibmag.pipeline` filters the features of all frames on disk between
them):

* ``features(frames, reference_frame)`` -> (T, N): per-frame quantities whose
  temporal change is magnified (band coefficients; quaternionic phase
  relative to the reference frame);
* ``apply(frames, reference_frame, change, alpha)`` -> frames: add the
  selected ``change`` (T, N) back, ``alpha - 1`` times.

:func:`linear_magnify` and :func:`phase_magnify` chain them for clips in
memory. ``temporal`` is any function filtering an array along its first
(time) axis, e.g. a zero-phase band-pass (:func:`vibmag.analysis.band_filter`); ``None``
takes the whole change relative to the reference frame (the static two-frame
mode: frame 1 magnified against frame 0).

Frames are torch tensors (T, H, W) of intensities; ``alpha`` is a number or a
per-pixel (H, W) tensor.

References
----------
Wu, Rubinstein, Shih, Guttag, Durand, Freeman. Eulerian video magnification
for revealing subtle changes in the world. SIGGRAPH 2012.
Wadhwa, Rubinstein, Durand, Freeman. Riesz pyramids for fast phase-based
video magnification. ICCP 2014. (Phase-based magnification is covered by a
patent for commercial use; see docs.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .pyramid import blur, gaussian_pyramid, laplacian_pyramid, max_levels, reconstruct

__all__ = ["LinearEulerian", "RieszPhase", "linear_magnify", "phase_magnify", "TemporalFilter"]

#: Mirrored border (px of a band) around each band before its Riesz transform by FFT.
_RIESZ_PAD = 16

#: Filters an array along axis 0 (time); same shape out.
TemporalFilter = Callable[[np.ndarray], np.ndarray]


def _flatten(bands: list[torch.Tensor]) -> torch.Tensor:
    """Bands each (T, K, h, w) -> (T, N)."""
    return torch.cat([band.reshape(band.shape[0], -1) for band in bands], dim=1)


def _unflatten(values: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    """Inverse of :func:`_flatten` for bands shaped like ``like`` (any leading size)."""
    out, start = [], 0
    for band in like:
        size = band[0].numel()
        out.append(values[:, start : start + size].reshape(values.shape[0], *band.shape[1:]))
        start += size
    return out


def _alpha_levels(alpha, frames: torch.Tensor, levels: int) -> list:
    """Alpha per pyramid level: the number, or the map's Gaussian pyramid, each (1, 1, h, w)."""
    if not isinstance(alpha, torch.Tensor) or alpha.dim() == 0:
        return [float(alpha)] * levels
    return gaussian_pyramid(alpha.to(frames)[None, None], levels)


@dataclass(frozen=True)
class LinearEulerian:
    """Linear Eulerian magnification (Wu et al. 2012).

    Each Laplacian band's intensity change B(t) is amplified:
    ``out = I + (alpha - 1) * B``, with the gain of fine bands attenuated
    linearly in their wavelength below ``cutoff_wavelength`` (Wu's lambda_c),
    since the first-order approximation fails once ``alpha * motion`` nears a
    quarter of the wavelength. The low-pass residual is left as recorded.

    Parameters
    ----------
    levels : int, optional
        Pyramid levels (default: down to about 8 px).
    cutoff_wavelength : float
        lambda_c in px.
    """

    levels: int | None = None
    cutoff_wavelength: float = 16.0

    def _bands(self, frames: torch.Tensor) -> list[torch.Tensor]:
        return laplacian_pyramid(frames[:, None], self.levels or max_levels(*frames.shape[-2:]))

    def features(self, frames: torch.Tensor, reference_frame: torch.Tensor) -> torch.Tensor:
        """Band coefficients of (T, H, W) frames, (T, N); their change is what is magnified."""
        return _flatten(self._bands(frames)[:-1])

    def apply(self, frames: torch.Tensor, reference_frame: torch.Tensor, change: torch.Tensor, alpha) -> torch.Tensor:
        """Add ``alpha - 1`` times the selected band change (T, N) to (T, H, W) frames."""
        bands = self._bands(frames)
        alphas = _alpha_levels(alpha, frames, len(bands))
        out = []
        for k, (band, delta) in enumerate(zip(bands[:-1], _unflatten(change.to(frames), bands[:-1]))):
            wavelength = 2.0 ** (k + 2)  # representative wavelength of band k, px
            out.append(band + (alphas[k] - 1.0) * min(1.0, wavelength / self.cutoff_wavelength) * delta)
        out.append(bands[-1])
        return reconstruct(out)[:, 0]


@dataclass(frozen=True)
class RieszPhase:
    """Phase-based magnification with a Riesz pyramid (Wadhwa et al. 2014).

    In each Laplacian band, the local phase of every frame relative to the
    reference frame (a quaternionic phase: phase times orientation) is
    temporally filtered, smoothed with an amplitude-weighted Gaussian of
    ``smoothing`` px (which suppresses phase noise where the texture is weak),
    multiplied by ``alpha - 1`` and applied as a phase shift to the band.
    The smoothing averages phase vectors of neighbouring orientations, so on
    isotropic texture (speckle) it lowers the effective magnification
    (measured on speckle with alpha 3 by a 6 px-window flow fit: 2.77 with
    ``smoothing=0``, 2.23 with the paper's 2 px); lower it where the texture
    has no dominant orientation. On a moving grating (one orientation) the
    magnification is exact within 2 % up to ``alpha delta = lambda / 4``
    (benchmarks/classical_baselines.py).

    Parameters
    ----------
    levels : int, optional
        Pyramid levels (default: down to about 8 px).
    smoothing : float
        Sigma of the amplitude-weighted phase smoothing, px (0: none).
    """

    levels: int | None = None
    smoothing: float = 2.0

    def _decompose(self, frames: torch.Tensor, reference_frame: torch.Tensor):
        """Per band: (band, R_x, R_y, phase_x, phase_y, amplitude) relative to the reference frame."""
        levels = self.levels or max_levels(*frames.shape[-2:])
        bands = laplacian_pyramid(frames[:, None], levels)
        reference = laplacian_pyramid(reference_frame[None, None], levels)
        out = []
        for band, ref in zip(bands[:-1], reference[:-1]):
            r_x, r_y = _riesz(band)
            out.append((band, r_x, r_y, *_phase_difference(band, r_x, r_y, ref, *_riesz(ref))))
        return out, bands[-1]

    def features(self, frames: torch.Tensor, reference_frame: torch.Tensor) -> torch.Tensor:
        """Quaternionic phase of (T, H, W) frames relative to the reference, (T, N) (phase_x then phase_y per band)."""
        decomposed, _ = self._decompose(frames, reference_frame)
        return _flatten([torch.cat([p_x, p_y], dim=1) for _, _, _, p_x, p_y, _ in decomposed])

    def apply(self, frames: torch.Tensor, reference_frame: torch.Tensor, change: torch.Tensor, alpha) -> torch.Tensor:
        """Shift the local phase of (T, H, W) frames by ``alpha - 1`` times the selected phase change (T, N)."""
        decomposed, residual = self._decompose(frames, reference_frame)
        like = [torch.cat([p_x, p_y], dim=1) for _, _, _, p_x, p_y, _ in decomposed]
        alphas = _alpha_levels(alpha, frames, len(decomposed) + 1)
        kernel = _gaussian_kernel(self.smoothing)
        out = []
        for k, ((band, r_x, r_y, _, _, amplitude), delta) in enumerate(zip(decomposed, _unflatten(change.to(frames), like))):
            shift_x, shift_y = delta[:, :1], delta[:, 1:]
            if kernel is not None:
                weight = blur(amplitude, kernel).clamp_min(1e-12)
                shift_x, shift_y = blur(shift_x * amplitude, kernel) / weight, blur(shift_y * amplitude, kernel) / weight
            out.append(_shift_phase(band, r_x, r_y, (alphas[k] - 1.0) * shift_x, (alphas[k] - 1.0) * shift_y))
        out.append(residual)
        return reconstruct(out)[:, 0]


def magnify_in_memory(method, frames: torch.Tensor, alpha, *, temporal: TemporalFilter | None = None, reference: int = 0) -> torch.Tensor:
    """Run a classical ``method`` (:class:`LinearEulerian` or :class:`RieszPhase`) on a clip in memory.

    Parameters
    ----------
    frames : torch.Tensor, shape (T, H, W)
    alpha : float or torch.Tensor (H, W)
    temporal : callable, optional
        Temporal filter along axis 0; None: change relative to ``reference``.
    reference : int
        Reference frame index.
    """
    reference_frame = frames[reference]
    features = method.features(frames, reference_frame)
    if temporal is None:
        change = features - features[reference : reference + 1]
    else:
        change = torch.as_tensor(np.ascontiguousarray(temporal(features.double().cpu().numpy())), dtype=features.dtype)
    return method.apply(frames, reference_frame, change, alpha)


def linear_magnify(frames: torch.Tensor, alpha, *, temporal=None, reference: int = 0, levels=None, cutoff_wavelength: float = 16.0) -> torch.Tensor:
    """Linear Eulerian magnification of (T, H, W) frames in memory (see :class:`LinearEulerian`)."""
    return magnify_in_memory(LinearEulerian(levels, cutoff_wavelength), frames, alpha, temporal=temporal, reference=reference)


def phase_magnify(frames: torch.Tensor, alpha, *, temporal=None, reference: int = 0, levels=None, smoothing: float = 2.0) -> torch.Tensor:
    """Riesz-pyramid phase magnification of (T, H, W) frames in memory (see :class:`RieszPhase`)."""
    return magnify_in_memory(RieszPhase(levels, smoothing), frames, alpha, temporal=temporal, reference=reference)


def _riesz(band: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Riesz transform ``(R_x, R_y)`` of (N, 1, h, w) bands, exact in the frequency domain.

    The transfer functions are ``-i f_x / |f|`` and ``-i f_y / |f|``; the band
    is mirrored by up to :data:`_RIESZ_PAD` px on each side first, so the FFT's
    periodic wrap does not join opposite borders. Wadhwa et al. (2014) use the
    3-tap ``[0.5, 0, -0.5]`` instead, which is exact only at a wavelength of
    4 px of the band (its gain is ``sin(2 pi / lambda)``) and suits their tuned
    pyramid; on this Laplacian pyramid it made the phase under-estimate and
    the magnification fall 10-21 % short on a moving grating
    (benchmarks/classical_baselines.py).
    """
    pad = min(_RIESZ_PAD, band.shape[-2] - 1, band.shape[-1] - 1)
    padded = torch.nn.functional.pad(band, (pad, pad, pad, pad), mode="reflect") if pad > 0 else band
    height, width = padded.shape[-2:]
    f_y = torch.fft.fftfreq(height, dtype=band.dtype, device=band.device).view(height, 1)
    f_x = torch.fft.rfftfreq(width, dtype=band.dtype, device=band.device).view(1, -1)
    radius = torch.sqrt(f_x**2 + f_y**2)
    radius[0, 0] = 1.0  # the mean has no orientation: its transform is 0 (f = 0 there)
    spectrum = torch.fft.rfft2(padded)
    r_x = torch.fft.irfft2(spectrum * (-1j * f_x / radius), s=(height, width))
    r_y = torch.fft.irfft2(spectrum * (-1j * f_y / radius), s=(height, width))
    crop = (..., slice(pad, pad + band.shape[-2]), slice(pad, pad + band.shape[-1]))
    return r_x[crop], r_y[crop]


def _phase_difference(band, r_x, r_y, i0, x0, y0):
    """Quaternionic phase of each frame relative to the reference (i0, x0, y0): (phase*cos, phase*sin, amplitude)."""
    real = band * i0 + r_x * x0 + r_y * y0
    imag_x = -band * x0 + i0 * r_x
    imag_y = -band * y0 + i0 * r_y
    imag = torch.sqrt(imag_x**2 + imag_y**2).clamp_min(1e-12)
    phase = torch.atan2(imag, real)
    amplitude = torch.sqrt(torch.sqrt(real**2 + imag**2))
    return phase * imag_x / imag, phase * imag_y / imag, amplitude


def _shift_phase(band, r_x, r_y, shift_x, shift_y) -> torch.Tensor:
    """Advance the local phase of a band by the quaternionic phase (shift_x, shift_y)."""
    size = torch.sqrt(shift_x**2 + shift_y**2)
    sinc = torch.where(size > 1e-12, torch.sin(size) / size.clamp_min(1e-12), torch.ones_like(size))
    return torch.cos(size) * band - sinc * (shift_x * r_x + shift_y * r_y)


def _gaussian_kernel(sigma: float) -> torch.Tensor | None:
    """A normalised 1-D Gaussian of ``sigma`` px (None for sigma 0)."""
    if sigma <= 0:
        return None
    radius = int(np.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()
