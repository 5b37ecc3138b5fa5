"""Dense coarse-to-fine Lucas-Kanade with cubic B-spline warping: vibmag's default flow.

For every pixel p, the flow is a smooth base flow ū (the current estimate,
smoothed by the window) plus a deviation δ(p) taken as constant over a
Gaussian window w around p, fitted by least squares between the reference R
and the warped moving frame M:

    u(p) = ū(p) + argmin_δ  sum_q w(q - p) [M(q + ū(q) + δ) - R(q)]^2.        (1)

Gauss-Newton with the reference's gradient g (the inverse-compositional form,
so the structure tensor A = w * (g g^T) is computed once per reference),
linearised around the current per-pixel warp u_k(q), gives

    u_{k+1}(p) = ū(p) + (A(p) + lam I)^-1 [ (w * (g z_k))(p) + lam (u_k - ū)(p) ],  (2)
    z_k(q)     = g(q) . (u_k - ū)(q) - (M(q + u_k(q)) - R(q)).

Fitting the deviation from ū, not the flow itself, matters twice. A window
that takes the whole flow as constant returns its g g^T-weighted average over
the window, which is off wherever the flow varies (strain, curvature) and the
texture's gradient energy is not centred on p; relative to ū only a nearly
constant remainder is left. And an increment form (fitting u - u_k) drifts
towards an unwindowed, per-pixel solution that amplifies noise, while ū holds
only the smooth part of u_k. ū is refreshed at the start of each pyramid
level. ``lam`` (a small fraction of the mean structure-tensor trace) damps
each step towards the current estimate: it changes no converged result on
texture and leaves weakly textured pixels at the coarser level's estimate
instead of dividing by zero.

Accuracy comes from these choices (measured in benchmarks/flow_accuracy.py):
the moving frame is interpolated with cubic B-splines, the gradient filter is
the exact derivative of that spline (a matched filter), both frames are lightly
pre-smoothed (lower interpolation bias on sharp speckle), and pixels warped
out of the frame are left out of the window sums. Large motions are reached
through a Gaussian pyramid.

Window choice (opt-in): with ``max_window`` (e.g. 6 px) the finest level is
also fitted with the wider window, from the same start, and per pixel the
wide fit is kept where the two agree within their predicted noise, the
``window`` fit where they do not (:func:`_choose_window`): the noise of the
wide window on smooth motion, the resolution of the narrow one at motion
edges, and the wide window's bias on curved mode shapes (which no per-pixel
test can see: it is below the noise of one pixel and shows only in averages).

Convention
----------
flow (N, 2, H, W), x first, px, with ``moving(p + flow(p)) = ref(p)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .bias import BiasModel, interpolation_bias, misfit_energy, remove_interpolation_bias
from .checks import check_frame_pair
from .confidence import (confidence_from_error, displacement_covariance, forward_backward_error, noise_variance_gain,
                         texture_error)
from .filters import gaussian_kernel1d, local_linear_smooth, odd_pad, separable_filter, to_luminance
from .pyramid import downsample, pad_to_multiple, pyramid_levels, upsample_flow
from .warp import bspline_coefficients, sample_bspline, spline_gradient

__all__ = ["LucasKanadeOptions", "PreparedReference", "LucasKanade", "lucas_kanade"]

#: Damping floor (squared intensity-gradient units) so a flat image solves to zero flow.
_MIN_DAMPING = 1e-9
#: The covariance's floor on A, as a fraction of the estimator's damping (so 1e-6 of the mean trace).
_UNDAMPED_FRACTION = 1e-3
#: The wide window is kept in full while the two fits differ by at most this many (sd_fine + sd_wide).
_AGREE_UNTIL = 2.0
#: Every this many pixels (in x and y) enter the frame's noise estimate.
_NOISE_STRIDE = 3
#: Pixels of one pyramid level fitted at a time (:func:`_frame_groups`): a level's intermediates stay below
#: glibc's mmap threshold, so they reuse its heap instead of faulting in fresh pages (vibmag.flow.api.BATCH_PIXELS).
LEVEL_PIXELS = 2**19
#: The largest share of a window's residual energy the interpolation misfit may take out of the noise estimate.
_MISFIT_SHARE = 0.9
#: Terms of the Neumann series that estimate a window's motion-model error (:func:`_motion_model_error`).
_MODEL_ERROR_TERMS = 4
#: Largest grid cell (px) of that series, and the fewest cells the window's sigma may span on it.
_MODEL_ERROR_MAX_STEP = 4
_MODEL_ERROR_GRID_SIGMA = 1.5
#: Median of a chi-square variable with one degree of freedom.
_MEDIAN_CHI2_1 = 0.4549
#: Robust spreads of the window's residual energy above its median beyond which :func:`_motion_edge_variance`
#: reads it as a flow error, and the gain from that excess to a squared error (set on benchmarks/flow_uncertainty.py).
_EDGE_SPREADS = 6.0
_EDGE_GAIN = 2.0
#: Where that test flags a window, its pixel's error is at least this share of the squared span of the flow
#: (largest minus smallest) within ``round(2 window / 3)`` px: the mean square of a mixing fraction uniform in [0, 1].
_MIXING_SHARE = 1.0 / 3.0
#: A median absolute deviation times this is one standard deviation of a Gaussian (the robust spread).
_MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class LucasKanadeOptions:
    """Settings of :func:`lucas_kanade` (see there for their meaning)."""

    window: float = 3.0
    presmooth: float = 0.7
    max_motion: float = 24.0
    levels: int | None = None
    iterations: tuple[int, ...] = (1, 3)
    smooth_base: bool = True
    damping: float = 1e-3
    tolerance: float = 0.05
    noise_floor: float = 1e-3
    max_window: float | None = None
    bias_correction: bool = False
    highpass: float | None = None

    def __post_init__(self):
        if self.window <= 0:
            raise ValueError(f"window must be a positive Gaussian sigma (px), got {self.window}")
        if self.max_window is not None and self.max_window <= 0:
            raise ValueError(f"max_window must be a positive Gaussian sigma (px) or None, got {self.max_window}")
        if self.presmooth < 0:
            raise ValueError(f"presmooth must be >= 0 (px), got {self.presmooth}")
        if self.highpass is not None and self.highpass <= 0:
            raise ValueError(f"highpass must be a positive Gaussian sigma (px) or None, got {self.highpass}")
        if self.max_motion <= 0:
            raise ValueError(f"max_motion must be positive (px), got {self.max_motion}")
        if self.levels is not None and self.levels < 1:
            raise ValueError(f"levels must be >= 1, got {self.levels}")
        iterations = (self.iterations,) if isinstance(self.iterations, int) else tuple(self.iterations)
        if not iterations or min(iterations) < 1:
            raise ValueError(f"iterations must be positive integers, got {self.iterations!r}")
        object.__setattr__(self, "iterations", iterations)
        if self.damping < 0:
            raise ValueError(f"damping must be >= 0, got {self.damping}")

    @property
    def adaptive(self) -> bool:
        """Whether the finest level chooses per pixel between ``window`` and the wider ``max_window``."""
        return self.max_window is not None and self.max_window > self.window

    def iterations_at(self, level: int) -> int:
        """Gauss-Newton steps at pyramid ``level`` (0 = finest; the last value repeats)."""
        return self.iterations[min(level, len(self.iterations) - 1)]


@dataclass(frozen=True)
class _ReferenceLevel:
    """What one pyramid level of the reference contributes to every step (2)."""

    image: torch.Tensor  # (N, 1, h, w), pre-smoothed
    grad_x: torch.Tensor  # zero on padding, so padded pixels never enter a window
    grad_y: torch.Tensor
    inverse: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (xx, xy, yy) of (A + lam I)^-1
    damping: torch.Tensor  # lam, (N, 1, 1, 1)
    extent: tuple[float, float]  # (height, width) of the unpadded frame, in this level's px


@dataclass(frozen=True)
class _WindowStatistics:
    """One window's finest-level terms of the uncertainty (confidence.py) and of the window choice."""

    window: float  # Gaussian sigma, px
    level: _ReferenceLevel  # the finest level, with this window's (A + lam I)^-1
    structure: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # window-averaged (xx, xy, yy) = A
    noise_structure: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # B of the covariance
    undamped_inverse: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # A^-1 with a 1e-6 trace floor
    unit_sd: torch.Tensor | None  # (N, 2, h, w): sqrt of diag((A + lam I)^-1 B (A + lam I)^-1), px per unit noise sd;
    # None unless adaptive (only the window choice reads it)

    @cached_property
    def coarse_window(self) -> "_CoarseWindow":
        """The window's :class:`_CoarseWindow`, built on the first call and kept with the reference."""
        return _CoarseWindow.of(self)


class _FinestFit(NamedTuple):
    """What the finest level's fit leaves for the uncertainty, padded, per frame (the wide fields None unless adaptive)."""

    residual: torch.Tensor  # (N, 1, h, w) warped - ref after the window's last step
    wide_residual: torch.Tensor | None  # (N, 1, h, w) the same for the wide window
    deviation: torch.Tensor  # (N, 2, h, w) px: the window's flow minus its base
    wide_deviation: torch.Tensor | None  # (N, 2, h, w) px: the same for the wide window

    @staticmethod
    def cat(parts: Sequence["_FinestFit"]) -> "_FinestFit":
        """The fits of consecutive frame groups as one."""
        return _FinestFit(*(_cat(field) for field in zip(*parts)))


@dataclass(frozen=True)
class PreparedReference:
    """A reference frame's pyramid, gradients and inverted structure tensors.

    Built once by :meth:`LucasKanade.prepare` and reused for every moving
    frame, which is how a recording is measured against one reference.
    """

    frame: torch.Tensor  # (N, 1, H', W'): luminance, padded
    levels: tuple[_ReferenceLevel, ...]  # finest first
    fine: _WindowStatistics  # the finest level with ``window``
    wide: _WindowStatistics | None  # the finest level with ``max_window``, when adaptive
    bias: BiasModel | None  # the interpolation bias (vibmag.flow.bias), with ``bias_correction``

    size: tuple[int, int]  # (H, W) before padding
    channels: int
    options: LucasKanadeOptions


class LucasKanade(nn.Module):
    """Dense Lucas-Kanade flow as a module; holds options only (no parameters).

    ``LucasKanade(**options)(ref, moving)`` equals ``lucas_kanade(ref, moving, **options)``.
    For many frames against one reference, :meth:`prepare` the reference once and
    :meth:`track` each moving frame.

    Examples
    --------
    >>> import torch
    >>> from vibmag.flow import LucasKanade
    >>> lk = LucasKanade(window=3.0)
    >>> ref = torch.rand(1, 1, 64, 64)
    >>> bool(lk(ref, ref).abs().max() < 1e-4)
    True
    """

    def __init__(self, **options):
        super().__init__()
        self.options = LucasKanadeOptions(**options)

    def extra_repr(self) -> str:
        return repr(self.options)

    def forward(
        self, ref: torch.Tensor, moving: torch.Tensor, *, return_confidence: bool = False, forward_backward: bool = False
    ):
        """Flow (N, 2, H, W) from ``ref`` to ``moving``; see :func:`lucas_kanade`."""
        check_frame_pair(ref, moving)
        prepared = self.prepare(ref)
        if not (return_confidence or forward_backward):
            return self.track(prepared, moving)
        flow, error = self._track_with_error(prepared, moving)
        if forward_backward:
            backward = self.track(self.prepare(moving), ref.expand_as(moving))
            with torch.no_grad():
                error = torch.maximum(error, forward_backward_error(flow.detach(), backward.detach()))
        return flow, confidence_from_error(error, self.options.tolerance)

    def prepare(self, ref: torch.Tensor) -> PreparedReference:
        """Precompute the reference's pyramid, gradients and inverted structure tensors.

        Parameters
        ----------
        ref : torch.Tensor, shape (N, C, H, W)
            float32 or float64; N = 1 to share it among all moving frames.

        Returns
        -------
        PreparedReference
        """
        check_frame_pair(ref, ref)
        opts = self.options
        height, width = ref.shape[-2:]
        n_levels = opts.levels or pyramid_levels(height, width, max_motion=opts.max_motion)
        frame = pad_to_multiple(_fit_luminance(ref, opts), 2 ** (n_levels - 1), mirror=True)
        levels, structures = [], []
        for level, image in enumerate(_smoothed_pyramid(frame, opts.presmooth, n_levels)):
            extent = (height / 2**level, width / 2**level)
            inside = _inside_mask(image, extent)
            grad_x, grad_y = spline_gradient(bspline_coefficients(image))
            terms, structure = _reference_level(image, grad_x * inside, grad_y * inside, extent, opts.window,
                                                opts.damping)
            levels.append(terms)
            structures.append(structure)
        fine = _window_statistics(levels[0], opts.window, opts, structure=structures[0])
        wide = _window_statistics(levels[0], opts.max_window, opts) if opts.adaptive else None
        prepared = PreparedReference(
            frame=frame,
            levels=tuple(levels),
            fine=fine,
            wide=wide,
            bias=None,
            size=(height, width),
            channels=ref.shape[1],
            options=opts,
        )
        if opts.bias_correction:
            with torch.no_grad():
                bias = interpolation_bias(lambda moved: _flow_and_residuals(self._run(prepared, moved)), ref)
            prepared = replace(prepared, bias=bias)
        return prepared

    def fit_luminance(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W): the luminance of (N, C, H, W) ``frames`` as the fit compares it (less its local mean with ``highpass``)."""
        return _fit_luminance(frames, self.options)

    def track(self, reference: PreparedReference, moving: torch.Tensor) -> torch.Tensor:
        """Flow (N, 2, H, W) from a prepared reference to ``moving`` (N, C, H, W)."""
        return self._run(reference, moving, keep_fit=False)[0]

    def track_with_confidence(
        self, reference: PreparedReference, moving: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flow (N, 2, H, W) and confidence (N, 1, H, W) from a prepared reference."""
        flow, error = self._track_with_error(reference, moving)
        return flow, confidence_from_error(error, self.options.tolerance)

    def track_with_uncertainty(
        self, reference: PreparedReference, moving: torch.Tensor, *, motion_model: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flow (N, 2, H, W), confidence (N, 1, H, W) and covariance (N, 3, H, W) from a prepared reference.

        The covariance holds ``(xx, xy, yy)`` in px^2 per pixel: the noise
        covariance of :meth:`track_with_error_parts`, plus the outer product of
        its motion-model error unless ``motion_model`` is False (a test of
        whether a flow is noise, :mod:`vibmag.magnification.gate`, leaves it
        out, since that error grows with the motion itself), and the motion-edge
        variance on its diagonal. ``sqrt`` of channels 0 and 2 are the 1-sigma
        uncertainties of x and y.
        """
        flow, confidence, covariance, model_error, edge = self.track_with_error_parts(reference, moving,
                                                                                     motion_model=motion_model)
        if motion_model:
            covariance = covariance + _outer(model_error)
            covariance[:, 0::2] += edge  # the edge variance of x and y, on the diagonal (xx, yy)
        return flow, confidence, covariance

    def track_with_error_parts(
        self, reference: PreparedReference, moving: torch.Tensor, *, motion_model: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Flow (N, 2, H, W), confidence (N, 1, H, W), noise covariance (N, 3, H, W), model error and edge variance (N, 2, H, W).

        The noise covariance ``(xx, xy, yy)`` px^2 is the estimator's sandwich
        covariance with the noise taken from the fit's residual
        (:func:`vibmag.flow.confidence.displacement_covariance`): white noise,
        independent from frame to frame. The model error (px, signed, the flow
        minus the true displacement) is the fit's estimated error from taking
        the motion as constant over its window (:func:`_motion_model_error`;
        where the wide window was kept, ``max_window``, that of the blend): it
        follows the motion, so it is a gain error at the motion's own
        frequencies, not noise. The edge variance (px^2, x and y) is the error a
        window straddling two motions makes (:func:`_motion_edge_variance`),
        which the smooth model error cannot state. Both None, and not
        computed, when ``motion_model`` is False.
        """
        flow, error, fit, weight = self._track_with_error(reference, moving, keep_residual=True)
        opts = reference.options
        height, width = reference.size
        bias = reference.bias
        with torch.no_grad():
            misfit = None if bias is None else misfit_energy(bias.misfit, flow.detach())
            energy = _residual_energy(reference.fine, fit.residual.detach(), misfit)
            covariance = _covariance(reference.fine, energy, opts.presmooth)
            if weight is not None:  # the blend (1 - w) fine + w wide, the two estimates taken as nested
                fine_share = (1.0 - weight) ** 2
                wide_misfit = None if bias is None else misfit_energy(bias.wide_misfit, flow.detach())
                wide = _covariance(reference.wide, _residual_energy(reference.wide, fit.wide_residual.detach(),
                                                                    wide_misfit), opts.presmooth)
                covariance = fine_share * covariance + (1.0 - fine_share) * wide
            model_error = edge = None
            if motion_model:
                model_error = _blended_model_error(reference, fit, weight)[..., :height, :width]
                edge = _motion_edge_variance(reference, energy, flow.detach())
        return (flow, confidence_from_error(error, opts.tolerance), covariance[..., :height, :width], model_error,
                edge)

    def _track_with_error(self, reference: PreparedReference, moving: torch.Tensor, *, keep_residual: bool = False):
        """Flow and its predicted error (px, (N, 1, H, W)) from the texture and the final residual.

        The error is the ``window``'s (a conservative figure where the wider
        window was chosen). With ``keep_residual``, also the finest level's
        :class:`_FinestFit` and the wide window's weight (None unless adaptive).
        """
        flow, fit, weight = self._run(reference, moving)
        opts = reference.options
        height, width = reference.size
        with torch.no_grad():
            energy = _window(fit.residual.detach() ** 2, opts.window)
            error = texture_error(reference.fine.structure, energy, window=opts.window, noise_floor=opts.noise_floor)
        if keep_residual:
            return flow, error[..., :height, :width], fit, weight
        return flow, error[..., :height, :width]

    def _run(self, reference: PreparedReference, moving: torch.Tensor, *, keep_fit: bool = True):
        """Coarse-to-fine iterations, then the window choice when adaptive.

        Each level is fitted in groups of frames of at most :data:`LEVEL_PIXELS`
        pixels (:func:`_frame_groups`): the coarse levels, where every tensor
        operation costs more in dispatch than in arithmetic, take many frames at
        once, the finest few. Frames never interact, so the grouping changes no
        result. A reference of N > 1 frames (one per moving frame) is fitted
        in one group.

        Returns the cropped flow (its interpolation bias removed where the
        reference holds the bias model: ``bias_correction``), the finest level's :class:`_FinestFit`
        and the padded weight of the wide window ((N, 1, h, w), or None); the last two None unless
        ``keep_fit`` (the flow alone needs no concatenation of the groups' fits: at 16 frames of
        512 x 512 px that copy cost more than a tenth of the call).
        """
        _check_against_reference(reference, moving)
        n_levels = len(reference.levels)
        frame = pad_to_multiple(_fit_luminance(moving, reference.options), 2 ** (n_levels - 1), mirror=True)
        images = _smoothed_pyramid(frame, reference.options.presmooth, n_levels)
        shared = reference.frame.shape[0] == 1
        coarse = None
        for level in range(n_levels - 1, 0, -1):
            coarse = torch.cat([_fit_level(reference.levels[level], level, images[level][group], _rows(coarse, group),
                                           reference.options)[0] for group in _frame_groups(images[level], shared)])
        parts = [_fit_finest(reference, images[0][group], _rows(coarse, group))
                 for group in _frame_groups(images[0], shared)]
        if len(parts) == 1:
            return parts[0] if keep_fit else (parts[0][0], None, None)
        flows, fits, weights = zip(*parts)
        if not keep_fit:
            return torch.cat(flows), None, None
        return torch.cat(flows), _FinestFit.cat(fits), _cat(weights)


def _fit_level(level: _ReferenceLevel, index: int, image: torch.Tensor, coarse: torch.Tensor | None,
               opts: LucasKanadeOptions):
    """Fit pyramid level ``index`` (0 = finest) from the coarser level's flow (None at the coarsest: zero).

    Returns the flow (N, 2, h, w), the linearised residual z of its last step,
    the base ū (None without ``smooth_base``), the moving image's spline
    coefficients, the start (the upsampled coarse flow) and the image sampled there.
    """
    if coarse is None:  # the coarsest level starts from zero flow, and ū = 0 is what base None stands for
        flow, base = image.new_zeros((image.shape[0], 2, *image.shape[-2:])), None
    else:
        flow = upsample_flow(coarse)
        base = _smooth_upsampled(coarse, opts.window) if opts.smooth_base else None
    coefficients = bspline_coefficients(image)
    start, warped = flow, sample_bspline(coefficients, flow)
    for step in range(opts.iterations_at(index)):
        flow, linearised = _gauss_newton_step(level, coefficients, flow, base, opts.window,
                                              warped=warped if step == 0 else None)
    return flow, linearised, base, coefficients, start, warped


def _fit_finest(reference: PreparedReference, image: torch.Tensor, coarse: torch.Tensor | None):
    """The finest level of some frames: cropped flow, its :class:`_FinestFit` and the wide window's weight (as ``_run``).

    The interpolation bias is removed here, group by group (a reference of
    N > 1 frames is one group), not from the whole call's flow: at 16 frames
    of 512 x 512 px its intermediates (33 MB each) lie above glibc's mmap
    threshold and fault in fresh pages, and the removal took 8 ms a frame
    instead of 3.6.
    """
    flow, fit, weight = _fit_finest_uncorrected(reference, image, coarse)
    if reference.bias is not None:
        flow = remove_interpolation_bias(flow, reference.bias)
    return flow, fit, weight


def _fit_finest_uncorrected(reference: PreparedReference, image: torch.Tensor, coarse: torch.Tensor | None):
    """:func:`_fit_finest` without the bias removal."""
    height, width = reference.size
    ref_level = reference.levels[0]
    flow, linearised, base, coefficients, start, warped = _fit_level(ref_level, 0, image, coarse, reference.options)
    # residual after the last step, predicted from its linearisation: warped - ref = g . (u - base) - z
    relative = flow if base is None else flow - base
    residual = ref_level.grad_x * relative[:, :1] + ref_level.grad_y * relative[:, 1:] - linearised
    if reference.wide is None:
        return flow[..., :height, :width], _FinestFit(residual, None, relative.detach(), None), None
    flow, weight, wide_residual, wide_deviation = _choose_window(reference, coefficients, start, warped, coarse, flow)
    return flow[..., :height, :width], _FinestFit(residual, wide_residual, relative.detach(), wide_deviation), weight


def _flow_and_residuals(run_result):
    """``(flow, fine residual, wide residual or None)`` from what :meth:`LucasKanade._run` returns."""
    flow, fit, _ = run_result
    return flow, fit.residual, fit.wide_residual


def _frame_groups(images: torch.Tensor, split: bool = True) -> list[slice]:
    """Slices of the frames of (N, C, h, w) ``images`` in groups of at most :data:`LEVEL_PIXELS` pixels (at least 1
    frame); one slice of all of them unless ``split``."""
    if not split:
        return [slice(0, images.shape[0])]
    size = max(1, LEVEL_PIXELS // max(1, images.shape[-2] * images.shape[-1]))
    return [slice(start, start + size) for start in range(0, images.shape[0], size)]


def _rows(x: torch.Tensor | None, group: slice) -> torch.Tensor | None:
    """``x[group]``, or None for None."""
    return None if x is None else x[group]


def _cat(parts: tuple) -> torch.Tensor | None:
    """The parts concatenated along frames, or None where they are None (a fit that did not run)."""
    return None if parts[0] is None else torch.cat(parts)


def _choose_window(reference: PreparedReference, coefficients, start, warped, coarse, fine_flow):
    """Fit the finest level with the wide window too and keep it per pixel where it agrees with the fine fit.

    The intersection-of-confidence-intervals rule (Katkovnik): where the
    motion is smooth over the wide window both fits estimate the same
    displacement and the wide one has about half the noise; where it is not
    (motion edges, strain peaks, occlusions) the two differ by more than
    their noise explains and the fine fit is kept. Per pixel, with
    ``t = max over x, y of |u_wide - u_fine| / (sd_fine + sd_wide)`` (sd from
    the reference's texture and the frame's residual noise), the wide
    window's weight falls from 1 at ``t = 2`` to 0 at ``t = 3``.

    The wide fit starts where the fine one did (the coarser level's flow
    ``coarse``, upsampled as ``start`` and sampled as ``warped``; None when
    there is one level), so no noise of the fine fit enters it. Its base is
    ``coarse`` smoothed over the wide window in the coarser level's px, twice
    the wide window here: the base's own noise varies within a window and
    only its part that is constant over the window is fitted away, so the
    base must be smoother than the window (measured: a base smoothed over the
    wide window itself left 17 % more noise on a still plate).

    Returns the blended flow (N, 2, h, w), the weight (N, 1, h, w), the
    wide fit's residual (N, 1, h, w, predicted from its linearisation) and its
    deviation from the base (N, 2, h, w), padded.
    """
    wide = reference.wide
    base = torch.zeros_like(start) if coarse is None else _smooth_upsampled(coarse, 2.0 * wide.window)
    wide_flow, linearised = _gauss_newton_step(wide.level, coefficients, start, base, wide.window, warped=warped)
    with torch.no_grad():
        relative = wide_flow - base
        residual = wide.level.grad_x * relative[:, :1] + wide.level.grad_y * relative[:, 1:] - linearised
        spread = _noise_sd(residual, reference) * (reference.fine.unit_sd + wide.unit_sd)
        t = ((wide_flow - fine_flow).abs() / (spread + torch.finfo(spread.dtype).tiny)).amax(dim=1, keepdim=True)
        weight = (_AGREE_UNTIL + 1.0 - t).clamp(0.0, 1.0)
    return fine_flow + weight * (wide_flow - fine_flow), weight, residual, relative.detach()


def _blended_model_error(reference: PreparedReference, fit: _FinestFit, weight: torch.Tensor | None) -> torch.Tensor:
    """(N, 2, h, w) px: :func:`_motion_model_error` of the fine window, or of the blend with the wide one by ``weight``."""
    error = _motion_model_error(reference.fine, fit.deviation)
    if weight is None:
        return error
    return error + weight * (_motion_model_error(reference.wide, fit.wide_deviation) - error)


def _motion_model_error(statistics: _WindowStatistics, deviation: torch.Tensor) -> torch.Tensor:
    """(N, 2, h, w) px: a window's fit error from taking its deviation from the base as constant over the window.

    A Gauss-Newton fit over a window returns, for a true deviation ``d`` that
    varies within the window (a curved mode shape), the texture-weighted mean
    ``W(d) = (A + lam I)^-1 [window(g g^T d) + lam d]``. Its error is
    ``W(d) - d = -sum_(k >= 1) (I - W)^k W(d)``, estimated from the measured
    deviation ``W(d)`` with the first :data:`_MODEL_ERROR_TERMS` terms of that
    Neumann series, smoothed over the window (the series amplifies noise
    where the window cannot resolve it; some noise stays in the estimate).
    The series runs on a grid coarser than the pixels (:class:`_CoarseWindow`):
    the deviation is smooth over the window, and the texture enters through
    ``g g^T`` averaged over the grid's cells.
    The number of terms was chosen on the calibration of
    benchmarks/flow_uncertainty.py and checked on scenes it was not chosen on
    (docs/flow.md, Uncertainty).
    """
    grid = statistics.coarse_window
    term = grid.pool(deviation)
    correction = torch.zeros_like(term)
    for _ in range(_MODEL_ERROR_TERMS):
        term = term - grid.average(term)
        correction = correction + term
    return -grid.upsample(_window_mirrored(correction, grid.sigma), deviation.shape[-2:])


class _CoarseWindow(NamedTuple):
    """A window's ``W`` (:func:`_motion_model_error`) on a grid of ``step`` px cells.

    ``g g^T`` is averaged over each cell and the window's Gaussian narrowed by
    the cell's own spread (a box of ``step`` px, variance ``(step^2 - 1) / 12``),
    so that ``A`` and ``window(g g^T d)`` approximate those of the pixel grid for
    a ``d`` smooth over a cell; ``W`` of a constant is exactly that constant.
    """

    step: int  # px per grid cell: a power of two, the window keeping >= _MODEL_ERROR_GRID_SIGMA cells
    sigma: float  # the window's Gaussian sigma in cells
    products: torch.Tensor  # (N, 3, h', w'): cell-averaged (gx^2, gx gy, gy^2)
    inverse: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (xx, xy, yy) of (A + lam I)^-1 on the grid
    damping: torch.Tensor  # lam, (N, 1, 1, 1)

    @staticmethod
    def of(statistics: _WindowStatistics) -> "_CoarseWindow":
        """The grid of ``statistics``' window, built from its finest level's gradients."""
        window, level = statistics.window, statistics.level
        step = 1
        while 2 * step <= min(_MODEL_ERROR_MAX_STEP, window / _MODEL_ERROR_GRID_SIGMA):
            step *= 2
        sigma = (window**2 - (step**2 - 1) / 12.0) ** 0.5 / step  # step <= window / 1.5 keeps it real
        products = _pool(_outer(torch.cat((level.grad_x, level.grad_y), 1)), step)
        xx, xy, yy = _window(products, sigma).split(1, dim=1)
        return _CoarseWindow(step, sigma, products, _inverse_2x2(xx, xy, yy, level.damping), level.damping)

    def pool(self, flow: torch.Tensor) -> torch.Tensor:
        """(N, 2, h', w'): ``flow`` (N, 2, h, w) averaged over the grid's cells."""
        return _pool(flow, self.step)

    def average(self, flow: torch.Tensor) -> torch.Tensor:
        """``W(flow)`` on the grid, (N, 2, h', w'): what a fit over the window returns."""
        xx, xy, yy = self.products.split(1, dim=1)
        u, v = flow[:, :1], flow[:, 1:]
        b_x, b_y = _window(torch.cat((xx * u + xy * v, xy * u + yy * v), 1), self.sigma).split(1, dim=1)
        return _solve_2x2(self.inverse, b_x + self.damping * u, b_y + self.damping * v)

    def upsample(self, field: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(N, C, *size): a grid field back on the pixels (bilinear, cell centres at their pixels' centre)."""
        if self.step > 1:
            field = F.interpolate(field, scale_factor=self.step, mode="bilinear", align_corners=False)
        return field[..., :size[0], :size[1]]


def _pool(x: torch.Tensor, step: int) -> torch.Tensor:
    """(N, C, ceil(h / step), ceil(w / step)): averages of ``step`` x ``step`` cells (edges replicated to fill)."""
    return x if step == 1 else F.avg_pool2d(pad_to_multiple(x, step), step)


def _outer(vector: torch.Tensor) -> torch.Tensor:
    """(N, 3, h, w) ``(xx, xy, yy)`` of a 2-vector field (N, 2, h, w): its outer product per pixel."""
    x, y = vector[:, :1], vector[:, 1:]
    return torch.cat((x * x, x * y, y * y), 1)


def _solve_2x2(inverse: tuple[torch.Tensor, torch.Tensor, torch.Tensor], b_x: torch.Tensor,
               b_y: torch.Tensor) -> torch.Tensor:
    """(N, 2, h, w): the symmetric 2x2 ``inverse`` (xx, xy, yy) applied to ``(b_x, b_y)`` per pixel."""
    inv_xx, inv_xy, inv_yy = inverse
    return torch.cat((inv_xx * b_x + inv_xy * b_y, inv_xy * b_x + inv_yy * b_y), 1)


def _noise_sd(residual: torch.Tensor, reference: PreparedReference) -> torch.Tensor:
    """Raw per-pixel intensity noise sd (N, 1, 1, 1) from the median squared residual inside the frame.

    The median of a squared Gaussian is 0.455 of its variance; the
    residual of pre-smoothed frames is divided by the smoothing's variance
    gain, as in :func:`vibmag.flow.confidence.displacement_covariance`.
    """
    height, width = reference.size
    squared = residual[..., :height:_NOISE_STRIDE, :width:_NOISE_STRIDE] ** 2
    median = squared.flatten(1).median(dim=1).values.view(-1, 1, 1, 1)
    gain = noise_variance_gain(gaussian_kernel1d(reference.options.presmooth))
    return (median / (_MEDIAN_CHI2_1 * gain)).sqrt()


def _residual_energy(statistics: _WindowStatistics, residual: torch.Tensor,
                     misfit: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 1, h, w) the window's mean squared residual of a fit, padded.

    ``misfit``: the squared residual of the interpolation's misfit (vibmag.flow.bias), taken out of it
    (at most :data:`_MISFIT_SHARE` of the residual's energy).
    """
    energy = _window(residual**2, statistics.window)
    if misfit is not None:
        energy = energy - torch.minimum(_window(misfit, statistics.window), _MISFIT_SHARE * energy)
    return energy


def _covariance(statistics: _WindowStatistics, energy: torch.Tensor, presmooth: float) -> torch.Tensor:
    """(N, 3, h, w) covariance ``(xx, xy, yy)`` px^2 of a window's fit (confidence.py) from its :func:`_residual_energy`, padded."""
    covariance = displacement_covariance(statistics.undamped_inverse, statistics.noise_structure, energy,
                                         noise_gain=noise_variance_gain(gaussian_kernel1d(presmooth)))
    return torch.cat(covariance, 1)


def _motion_edge_variance(reference: PreparedReference, energy: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) px^2: the error variance of a window that straddles two motions (motion edges, occlusions).

    There the fit mixes the motions, and each pixel's residual (the frame
    sampled at the pixel's own flow against the reference) is the texture
    times that pixel's flow error. The window's residual energy above the
    frame's typical level (its median plus :data:`_EDGE_SPREADS` robust
    spreads, so noise alone adds nothing) is read as a squared flow error,
    ``excess / (tr A / 2)``, times :data:`_EDGE_GAIN`, and shared between x
    and y by how much each component of the flow varies over the window (the
    component that changes across the edge is the one in error). Where
    the residual is that high, the fit may also have mixed two motions whose
    difference the residual does not show (an occluded or uncovered pixel
    matches neither): per component, the variance is at least
    :data:`_MIXING_SHARE` times the squared span of the flow around the pixel
    (:func:`_flow_span`), what a fit that mixes the motions on both sides by
    a fraction uniform in [0, 1] errs on average. Zero on smooth motion.
    Calibrated on one object scene of benchmarks/flow_uncertainty.py and
    checked on others (docs/flow.md, Uncertainty).
    """
    height, width = reference.size
    fine = reference.fine
    energy = energy[..., :height, :width]
    samples = energy[..., ::_NOISE_STRIDE, ::_NOISE_STRIDE].flatten(1)
    median = samples.median(dim=1).values.view(-1, 1, 1, 1)
    spread = _MAD_TO_SD * (samples - median.flatten(1)).abs().median(dim=1).values.view(-1, 1, 1, 1)
    excess = (energy - median - _EDGE_SPREADS * spread).clamp_min(0.0)
    xx, _, yy = (t[..., :height, :width] for t in fine.structure)
    squared_error = _EDGE_GAIN * excess / (0.5 * (xx + yy) + fine.level.damping)
    mean = _window(flow, fine.window)
    variation = (_window(flow * flow, fine.window) - mean * mean).clamp_min(0.0)
    total = variation.sum(dim=1, keepdim=True)
    share = torch.where(total > 0, variation / total.clamp_min(torch.finfo(total.dtype).tiny), 0.5)
    mixing = _MIXING_SHARE * _flow_span(flow, max(1, round(2.0 * fine.window / 3.0))) ** 2 * (excess > 0)
    return torch.maximum(squared_error * share, mixing)


def _flow_span(flow: torch.Tensor, reach: int) -> torch.Tensor:
    """(N, 2, H, W) px: per component, the largest minus the smallest flow within ``reach`` px (a square)."""
    size = 2 * reach + 1
    return F.max_pool2d(flow, size, 1, reach) + F.max_pool2d(-flow, size, 1, reach)


def _reference_level(image, grad_x, grad_y, extent, window: float, damping_fraction: float):
    """A pyramid level's terms of (2) for a Gaussian window of sigma ``window`` px, and its structure tensor A."""
    xx, xy, yy = _structure_tensor(grad_x, grad_y, window)
    damping = (damping_fraction * (xx + yy).mean(dim=(2, 3), keepdim=True)).clamp_min(_MIN_DAMPING)
    level = _ReferenceLevel(image=image, grad_x=grad_x, grad_y=grad_y, inverse=_inverse_2x2(xx, xy, yy, damping),
                            damping=damping, extent=extent)
    return level, (xx, xy, yy)


def _structure_tensor(grad_x, grad_y, window: float):
    """Window-averaged ``(gx^2, gx gy, gy^2)``, each (N, 1, h, w)."""
    return tuple(_window(_outer(torch.cat((grad_x, grad_y), 1)), window).split(1, dim=1))


def _window_statistics(fine_level: _ReferenceLevel, window: float, opts: LucasKanadeOptions, *,
                       structure=None) -> _WindowStatistics:
    """The finest level's uncertainty terms for a window of sigma ``window`` px (the damping stays the level's).

    ``structure``: the level's own A when ``window`` is the one ``fine_level`` was built with (reused, as is
    its inverse); otherwise A is computed for ``window``. ``unit_sd`` (the window choice's) only when adaptive.
    """
    if structure is None:
        xx, xy, yy = _structure_tensor(fine_level.grad_x, fine_level.grad_y, window)
        level = replace(fine_level, inverse=_inverse_2x2(xx, xy, yy, fine_level.damping))
    else:
        (xx, xy, yy), level = structure, fine_level
    noise_structure = _noise_structure(fine_level.grad_x, fine_level.grad_y, window, opts.presmooth)
    # the covariance takes A itself: the damping steers an unobservable direction towards the
    # current estimate, step after step, and would hide that it is unobservable (the aperture problem)
    undamped = _inverse_2x2(xx, xy, yy, (fine_level.damping * _UNDAMPED_FRACTION).clamp_min(_MIN_DAMPING))
    unit_sd = None
    if opts.adaptive:
        with torch.no_grad():
            unit = displacement_covariance(level.inverse, noise_structure, torch.ones(()), noise_gain=1.0)
            unit_sd = torch.cat((unit[0], unit[2]), 1).clamp_min(0.0).sqrt()
    return _WindowStatistics(window=window, level=level, structure=(xx, xy, yy), noise_structure=noise_structure,
                             undamped_inverse=undamped, unit_sd=unit_sd)


def _gauss_newton_step(level: _ReferenceLevel, coefficients: torch.Tensor, flow: torch.Tensor, base, window: float,
                       *, warped: torch.Tensor | None = None):
    """One update (2); returns the new flow and z_k.

    ``base`` is ū of (2), or None for ū = 0 (the whole flow constant over the window);
    ``warped`` the moving frame already sampled at ``flow``, if at hand.

    Pixels warped outside the frame carry no information (their residual would
    compare the reference with mirrored border values), so where any exist
    they are left out of the window sums and the structure tensor is rebuilt
    for this step; otherwise the reference's is reused.
    """
    relative = flow if base is None else flow - base
    u, v = relative[:, :1], relative[:, 1:]
    warped = sample_bspline(coefficients, flow) if warped is None else warped
    linearised = level.grad_x * u + level.grad_y * v - (warped - level.image)
    valid = _warped_inside(flow, level.extent)
    if valid is None:
        grad_x, grad_y = level.grad_x, level.grad_y
        b_x, b_y = _window(torch.cat((grad_x * linearised, grad_y * linearised), 1), window).split(1, dim=1)
        inverse = level.inverse
    else:
        grad_x, grad_y = level.grad_x * valid, level.grad_y * valid
        xx, xy, yy, b_x, b_y = _window(
            torch.cat((grad_x * grad_x, grad_x * grad_y, grad_y * grad_y, grad_x * linearised, grad_y * linearised), 1),
            window,
        ).split(1, dim=1)
        inverse = _inverse_2x2(xx, xy, yy, level.damping)
    new_flow = _solve_2x2(inverse, b_x + level.damping * u, b_y + level.damping * v)
    return (new_flow if base is None else new_flow + base), linearised


def _smooth_upsampled(coarse: torch.Tensor, window: float) -> torch.Tensor:
    """ū of (2) at the next finer level: the coarser level's flow smoothed over ``window`` fine px, upsampled.

    Close to smoothing the upsampled flow over ``window`` (Gaussian and bilinear
    upsampling commute but for the discretisation of the half-width Gaussian:
    about 2e-4 of a smooth flow inside the frame), at an eighth of the cost: a
    quarter of the pixels and half the taps. The deviation fitted on top absorbs
    the difference: errors against exact displacement were unchanged or lower
    (docs/flow.md).

    At the border the smoothing is a local linear fit (``local_linear_smooth``)
    and the upsampling extrapolates the edge samples' slope, so a linear flow
    stays linear: mirroring would flatten a mode's slope there, and the
    deviation left to fit, steep within the window's reach of the border, is
    what a one-sided window resolves worst. Measured (benchmarks/window_bias.py,
    docs/flow.md, Uncertainty): a bending mode's gain at the border column was
    5.2 with mirrored borders, 2.9 so; with ``max_window=6``, whose base is
    smoothed over 12 px, the RMS error 16 px inside a 96 px bending plate fell
    by 26 % / 45 % (x / y).
    """
    smooth = local_linear_smooth(coarse, window / 2.0)
    return upsample_flow(odd_pad(odd_pad(smooth, 1, -1), 1, -2))[..., 2:-2, 2:-2]


def _window_mirrored(x: torch.Tensor, window: float) -> torch.Tensor:
    """Gaussian smoothing of every channel with mirrored borders."""
    return separable_filter(x, gaussian_kernel1d(window))


def _window(x: torch.Tensor, window: float) -> torch.Tensor:
    """Gaussian window sums (weights summing to 1, truncated at the border) of every channel."""
    return separable_filter(x, gaussian_kernel1d(window), padding="zeros")


def _noise_structure(grad_x: torch.Tensor, grad_y: torch.Tensor, window: float, presmooth: float):
    """``B = w^2 * (g~ g~^T)``: gradients smoothed by the pre-smoothing kernel, products summed with squared weights."""
    with torch.no_grad():
        smoothed = separable_filter(torch.cat((grad_x, grad_y), 1).detach(), gaussian_kernel1d(presmooth),
                                    padding="zeros")
        squared = tuple(k * k for k in gaussian_kernel1d(window))
        return tuple(separable_filter(_outer(smoothed), squared, padding="zeros").split(1, 1))


def _inverse_2x2(xx, xy, yy, damping):
    """Entries (xx, xy, yy) of the inverse of [[xx + d, xy], [xy, yy + d]] (elementwise)."""
    det = (xx + damping) * (yy + damping) - xy * xy
    return (yy + damping) / det, -xy / det, (xx + damping) / det


def _inside_mask(image: torch.Tensor, extent: tuple[float, float]) -> torch.Tensor:
    """1 on pixels whose centre lies in the unpadded frame, 0 on padding; shape (1, 1, h, w)."""
    height, width = image.shape[-2:]
    y = torch.arange(height, dtype=image.dtype, device=image.device).view(1, 1, height, 1)
    x = torch.arange(width, dtype=image.dtype, device=image.device).view(1, 1, 1, width)
    return ((y <= extent[0] - 0.5) & (x <= extent[1] - 0.5)).to(image.dtype)


def _warped_inside(flow: torch.Tensor, extent: tuple[float, float]) -> torch.Tensor | None:
    """Mask (N, 1, h, w) of pixels warped inside the unpadded frame, or None when all are."""
    height, width = flow.shape[-2:]
    y = torch.arange(height, dtype=flow.dtype, device=flow.device).view(height, 1)
    x = torch.arange(width, dtype=flow.dtype, device=flow.device).view(1, width)
    with torch.no_grad():
        pos_x = x + flow[:, :1]
        pos_y = y + flow[:, 1:]
        valid = (pos_x >= -0.5) & (pos_x <= extent[1] - 0.5) & (pos_y >= -0.5) & (pos_y <= extent[0] - 0.5)
        if bool(valid.all()):
            return None
    return valid.to(flow.dtype)


def _fit_luminance(frames: torch.Tensor, opts: LucasKanadeOptions) -> torch.Tensor:
    """(N, 1, H, W): the luminance the fit compares, less its local mean (Gaussian, ``highpass`` px) when set."""
    luminance = to_luminance(frames)
    if opts.highpass is None:
        return luminance
    return luminance - separable_filter(luminance, gaussian_kernel1d(opts.highpass))


def _smoothed_pyramid(frame: torch.Tensor, presmooth: float, n_levels: int) -> list[torch.Tensor]:
    """Pre-smoothed frame and its coarser levels, finest first."""
    images = [separable_filter(frame, gaussian_kernel1d(presmooth))]
    for _ in range(n_levels - 1):
        images.append(downsample(images[-1]))
    return images


def _check_against_reference(reference: PreparedReference, moving: torch.Tensor) -> None:
    """Raise ValueError unless ``moving`` fits the prepared reference."""
    if not isinstance(moving, torch.Tensor) or moving.dim() != 4:
        shape = tuple(moving.shape) if isinstance(moving, torch.Tensor) else type(moving).__name__
        raise ValueError(f"moving must be shaped (N, C, H, W), got {shape}")
    expected = (reference.channels, *reference.size)
    if tuple(moving.shape[1:]) != expected:
        raise ValueError(
            f"moving must be shaped (N, {expected[0]}, {expected[1]}, {expected[2]}) like the reference, "
            f"got {tuple(moving.shape)}"
        )
    if moving.dtype != reference.frame.dtype:
        raise ValueError(f"moving must be {reference.frame.dtype} like the reference, got {moving.dtype}")
    if moving.device != reference.frame.device:
        raise ValueError(f"moving must be on the reference's device {reference.frame.device}, got {moving.device}")
    n_ref = reference.frame.shape[0]
    if n_ref not in (1, moving.shape[0]):
        raise ValueError(f"moving must have the reference's batch size {n_ref}, got {moving.shape[0]}")


def lucas_kanade(
    ref: torch.Tensor,
    moving: torch.Tensor,
    *,
    window: float = 3.0,
    presmooth: float = 0.7,
    max_motion: float = 24.0,
    levels: int | None = None,
    iterations: int | Sequence[int] = (1, 3),
    smooth_base: bool = True,
    damping: float = 1e-3,
    return_confidence: bool = False,
    forward_backward: bool = False,
    tolerance: float = 0.05,
    noise_floor: float = 1e-3,
    max_window: float | None = None,
    bias_correction: bool = False,
    highpass: float | None = None,
):
    """Dense optical flow by coarse-to-fine Lucas-Kanade with B-spline warping.

    Parameters
    ----------
    ref : torch.Tensor, shape (N, C, H, W) or (1, C, H, W)
        Reference frames, (1, C, H, W) shared by all moving
        frames; float32 or float64; C of 1 (grey), 2 (grey + alpha), 3 (RGB)
        or 4 (RGBA), colour reduced to BT.601 luminance.
    moving : torch.Tensor, shape (N, C, H, W)
        Frames to measure, same dtype, C, H, W.
    window : float
        Sigma (px) of the Gaussian window over which the flow is fitted,
        at every pyramid level. Larger: less noise, less spatial detail. The
        window's effective area is 4 pi window^2.
    max_window : float or None
        Adaptive window (opt-in): at the finest level the flow is refitted
        with this wider window (sigma, px) and, per pixel, the wide fit is
        kept where it agrees with the ``window`` fit within their noise
        (smooth motion) and the ``window`` fit where they differ (motion
        edges). Half the noise on smooth motion, but the wide window's bias
        on curved mode shapes (-4 % amplitude for a mode of 96 px wavelength
        at 6 px) enters region averages. None (default), or a value <=
        ``window``, fits ``window`` alone.
    presmooth : float
        Sigma (px) of a Gaussian applied to both frames first; it
        lowers the interpolation bias on sharp texture (0 disables).
    bias_correction : bool
        Remove the interpolation bias left (:mod:`vibmag.flow.bias`),
        calibrated on the reference's own Fourier shifts: four more tracks
        per prepared reference. Rigid 0.05-0.4 px shifts of noise-free 2-3 px
        speckle are then read within 0.1 % instead of up to 3.2 % high
        (tests/flow/test_bias.py; on 8-bit frames the quantisation leaves 0.5 %).
        :func:`vibmag.estimate_displacement` turns it on by default.
    highpass : float or None
        Sigma (px) of a Gaussian local mean subtracted from both frames'
        luminance before the fit (opt-in), so a brightness change smooth over
        that scale (lighting, flicker, a passing reflection) is not read as
        motion; detail finer than it is kept. 4 px cut the showcase
        recording's pixels read as moving more than 2 px from 20 % to 2 %
        (docs/flow.md). None (default) compares the luminance as recorded.
    max_motion : float
        Largest displacement (px) the pyramid is built for.
    levels : int or None
        Pyramid levels; default from ``max_motion`` and the frame size.
    iterations : int or sequence of int
        Gauss-Newton steps per level, finest first; the last value
        repeats for coarser levels.
    smooth_base : bool
        Fit each window to the flow's deviation from its smoothed
        current estimate, not to the flow itself; removes the bias of a
        translation-only window wherever the flow varies (strain, curvature).
    damping : float
        Step damping as a fraction of the mean structure-tensor trace;
        it does not change converged results on texture.
    return_confidence : bool
        Also return a per-pixel confidence in [0, 1] (not differentiable).
    forward_backward : bool
        Fold forward-backward consistency into the confidence
        (computes a second, backward flow).
    tolerance : float
        Predicted error (px) at which the confidence is 0.5.
    noise_floor : float
        Smallest intensity noise the confidence assumes.

    Returns
    -------
    flow : torch.Tensor, shape (N, 2, H, W)
        x first, px. The flow is differentiable with respect to
        both frames; any H, W >= 2 are accepted (frames are padded internally).
    confidence : torch.Tensor, shape (N, 1, H, W)
        With ``return_confidence`` (or ``forward_backward``) only.

    Raises
    ------
    ValueError
        If the frames or an option are invalid.

    Convention
    ----------
    ``moving(p + flow(p)) = ref(p)``: flow(p) is where the point seen at
    pixel p of ``ref`` has moved to in ``moving``. Pixel centres are at
    integer coordinates.

    Examples
    --------
    >>> import torch
    >>> from vibmag.flow import lucas_kanade
    >>> ref = torch.rand(2, 1, 48, 64)
    >>> lucas_kanade(ref, ref).shape
    torch.Size([2, 2, 48, 64])
    """
    estimator = LucasKanade(
        window=window,
        presmooth=presmooth,
        max_motion=max_motion,
        levels=levels,
        iterations=iterations,
        smooth_base=smooth_base,
        damping=damping,
        tolerance=tolerance,
        noise_floor=noise_floor,
        max_window=max_window,
        bias_correction=bias_correction,
        highpass=highpass,
    )
    return estimator(ref, moving, return_confidence=return_confidence, forward_backward=forward_backward)
