"""Dense coarse-to-fine Lucas-Kanade with cubic B-spline warping: vibmag's default flow.

For every pixel p, the flow u(p) minimises the window-weighted squared
difference between the reference R and the warped moving frame M:

    u(p) = argmin_u  sum_q w(q - p) [M(q + u) - R(q)]^2,           (1)

w a Gaussian window. Gauss-Newton with the reference's gradient g (the
inverse-compositional form for a translation, so the window's structure tensor
A = w * (g g^T) is computed once per reference) gives

    u_{k+1}(p) = (A(p) + lam I)^-1 [ (w * (g z_k))(p) + lam u_k(p) ],   (2)
    z_k(q)     = g(q) . u_k(q) - (M(q + u_k(q)) - R(q)).

Writing the update for the full flow (not the increment) keeps the fixed point
of (2) equal to the windowed solution of (1) even though every pixel q of the
window is warped by its own u_k(q); an increment form drifts towards a
per-pixel, unwindowed solution and amplifies noise. ``lam`` (a small fraction
of the mean structure-tensor trace) damps the steps towards the current
estimate, so it changes no converged result on texture and leaves weakly
textured pixels at the coarser level's estimate instead of dividing by zero.

Accuracy comes from three choices (measured in benchmarks/flow_accuracy.py):
the moving frame is interpolated with cubic B-splines, the gradient filter is
the exact derivative of that spline (matched filter), and both frames are
lightly pre-smoothed, which lowers the interpolation bias on sharp speckle.
Large motions are reached through a Gaussian pyramid.

Convention:
    flow (N, 2, H, W), x first, px, with ``moving(p + flow(p)) = ref(p)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_frame_pair
from .confidence import confidence_from_error, forward_backward_error, texture_error
from .filters import central_gradient, gaussian_kernel1d, separable_filter, to_luminance
from .pyramid import downsample, pad_to_multiple, pyramid_levels, upsample_flow
from .warp import bspline_coefficients, sample_bspline

__all__ = ["LucasKanadeOptions", "PreparedReference", "LucasKanade", "lucas_kanade"]

#: Damping floor (squared intensity-gradient units) so a flat image solves to zero flow.
_MIN_DAMPING = 1e-9


@dataclass(frozen=True)
class LucasKanadeOptions:
    """Settings of :func:`lucas_kanade` (see there for their meaning)."""

    window: float = 3.0
    presmooth: float = 0.7
    max_motion: float = 24.0
    levels: int | None = None
    iterations: tuple[int, ...] = (2, 3)
    damping: float = 1e-3
    tolerance: float = 0.05
    noise_floor: float = 1e-3

    def __post_init__(self):
        if self.window <= 0:
            raise ValueError(f"window must be a positive Gaussian sigma (px), got {self.window}")
        if self.presmooth < 0:
            raise ValueError(f"presmooth must be >= 0 (px), got {self.presmooth}")
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

    def iterations_at(self, level: int) -> int:
        """Gauss-Newton steps at pyramid ``level`` (0 = finest; the last value repeats)."""
        return self.iterations[min(level, len(self.iterations) - 1)]


@dataclass(frozen=True)
class _ReferenceLevel:
    """What one pyramid level of the reference contributes to every step (2)."""

    image: torch.Tensor  # (N, 1, h, w), pre-smoothed
    grad_x: torch.Tensor  # zero on padding, so padded pixels never enter a window
    grad_y: torch.Tensor
    inv_xx: torch.Tensor  # entries of (A + lam I)^-1, each (N, 1, h, w)
    inv_xy: torch.Tensor
    inv_yy: torch.Tensor
    damping: torch.Tensor  # lam, (N, 1, 1, 1)
    extent: tuple[float, float]  # (height, width) of the unpadded frame, in this level's px


@dataclass(frozen=True)
class PreparedReference:
    """A reference frame's pyramid, gradients and inverted structure tensors.

    Built once by :meth:`LucasKanade.prepare` and reused for every moving
    frame, which is how a recording is measured against one reference.
    """

    frame: torch.Tensor  # (N, 1, H', W'): luminance, padded
    levels: tuple[_ReferenceLevel, ...]  # finest first
    structure: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # finest level, window-averaged
    size: tuple[int, int]  # (H, W) before padding
    channels: int
    options: LucasKanadeOptions


class LucasKanade(nn.Module):
    """Dense Lucas-Kanade flow as a module; holds options only (no parameters).

    ``LucasKanade(**options)(ref, moving)`` equals ``lucas_kanade(ref, moving, **options)``.
    For many frames against one reference, :meth:`prepare` the reference once and
    :meth:`track` each moving frame.

    Example:
        >>> import torch
        >>> from vibmag.flow import LucasKanade
        >>> lk = LucasKanade(window=3.0)
        >>> ref = torch.rand(1, 1, 64, 64)
        >>> lk(ref, ref).abs().max() < 1e-4
        tensor(True)
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
        """Precompute the reference's pyramid, gradients and structure tensors.

        Args:
            ref: (N, C, H, W) float32 or float64; N = 1 to share it among all moving frames.
        """
        if ref.dim() != 4:
            raise ValueError(f"ref must be shaped (N, C, H, W), got shape {tuple(ref.shape)}")
        check_frame_pair(ref, ref)
        opts = self.options
        height, width = ref.shape[-2:]
        n_levels = opts.levels or pyramid_levels(height, width, max_motion=opts.max_motion)
        frame = pad_to_multiple(to_luminance(ref), 2 ** (n_levels - 1))
        window = gaussian_kernel1d(opts.window)
        levels = []
        structure = None
        for level, image in enumerate(_smoothed_pyramid(frame, opts.presmooth, n_levels)):
            extent = (height / 2**level, width / 2**level)
            inside = _inside_mask(image, extent)
            grad_x, grad_y = central_gradient(bspline_coefficients(image))
            grad_x, grad_y = grad_x * inside, grad_y * inside
            xx, xy, yy = separable_filter(
                torch.cat((grad_x * grad_x, grad_x * grad_y, grad_y * grad_y), 1), window, padding="zeros"
            ).split(1, dim=1)
            if structure is None:
                structure = (xx, xy, yy)
            damping = (opts.damping * (xx + yy).mean(dim=(2, 3), keepdim=True)).clamp_min(_MIN_DAMPING)
            inv_xx, inv_xy, inv_yy = _inverse_2x2(xx, xy, yy, damping)
            levels.append(
                _ReferenceLevel(
                    image=image,
                    grad_x=grad_x,
                    grad_y=grad_y,
                    inv_xx=inv_xx,
                    inv_xy=inv_xy,
                    inv_yy=inv_yy,
                    damping=damping,
                    extent=extent,
                )
            )
        return PreparedReference(
            frame=frame,
            levels=tuple(levels),
            structure=structure,
            size=(height, width),
            channels=ref.shape[1],
            options=opts,
        )

    def track(self, reference: PreparedReference, moving: torch.Tensor) -> torch.Tensor:
        """Flow (N, 2, H, W) from a prepared reference to ``moving`` (N, C, H, W)."""
        flow, _ = self._run(reference, moving)
        return flow

    def track_with_confidence(
        self, reference: PreparedReference, moving: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flow (N, 2, H, W) and texture confidence (N, 1, H, W) from a prepared reference."""
        flow, error = self._track_with_error(reference, moving)
        return flow, confidence_from_error(error, self.options.tolerance)

    def _track_with_error(self, reference, moving):
        flow, residual = self._run(reference, moving)
        opts = reference.options
        height, width = reference.size
        with torch.no_grad():
            energy = separable_filter(residual.detach() ** 2, gaussian_kernel1d(opts.window), padding="zeros")
            error = texture_error(reference.structure, energy, window=opts.window, noise_floor=opts.noise_floor)
        return flow, error[..., :height, :width]

    def _run(self, reference: PreparedReference, moving: torch.Tensor):
        """Coarse-to-fine iterations; returns the cropped flow and the padded final residual."""
        _check_against_reference(reference, moving)
        opts = reference.options
        height, width = reference.size
        n_levels = len(reference.levels)
        frame = pad_to_multiple(to_luminance(moving), 2 ** (n_levels - 1))
        images = _smoothed_pyramid(frame, opts.presmooth, n_levels)
        window = gaussian_kernel1d(opts.window)
        flow = None
        for level in range(n_levels - 1, -1, -1):
            ref_level = reference.levels[level]
            image = images[level]
            if flow is None:
                flow = image.new_zeros((image.shape[0], 2, *image.shape[-2:]))
            else:
                flow = upsample_flow(flow)
            coefficients = bspline_coefficients(image)
            for _ in range(opts.iterations_at(level)):
                flow, linearised = _gauss_newton_step(ref_level, coefficients, flow, window)
        # residual after the last step, predicted from its linearisation: warped - ref = g . u - z
        residual = ref_level.grad_x * flow[:, :1] + ref_level.grad_y * flow[:, 1:] - linearised
        return flow[..., :height, :width], residual


def _gauss_newton_step(level: _ReferenceLevel, coefficients: torch.Tensor, flow: torch.Tensor, window):
    """One update (2); returns the new flow and z_k.

    Pixels warped outside the frame carry no information (their residual would
    compare the reference with replicated border values), so where any exist,
    they are left out of the window sums and the structure tensor is rebuilt
    for this step; otherwise the reference's inverted tensor is reused.
    """
    u, v = flow[:, :1], flow[:, 1:]
    warped = sample_bspline(coefficients, flow)
    linearised = level.grad_x * u + level.grad_y * v - (warped - level.image)
    valid = _warped_inside(flow, level.extent)
    if valid is None:
        b_x, b_y = separable_filter(
            torch.cat((level.grad_x * linearised, level.grad_y * linearised), 1), window, padding="zeros"
        ).split(1, dim=1)
        inv_xx, inv_xy, inv_yy = level.inv_xx, level.inv_xy, level.inv_yy
    else:
        grad_x, grad_y = level.grad_x * valid, level.grad_y * valid
        xx, xy, yy, b_x, b_y = separable_filter(
            torch.cat((grad_x * grad_x, grad_x * grad_y, grad_y * grad_y, grad_x * linearised, grad_y * linearised), 1),
            window,
            padding="zeros",
        ).split(1, dim=1)
        inv_xx, inv_xy, inv_yy = _inverse_2x2(xx, xy, yy, level.damping)
    b_x = b_x + level.damping * u
    b_y = b_y + level.damping * v
    new_flow = torch.cat((inv_xx * b_x + inv_xy * b_y, inv_xy * b_x + inv_yy * b_y), 1)
    return new_flow, linearised


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


def _smoothed_pyramid(frame: torch.Tensor, presmooth: float, n_levels: int) -> list[torch.Tensor]:
    """Pre-smoothed frame and its coarser levels, finest first."""
    images = [separable_filter(frame, gaussian_kernel1d(presmooth))]
    for _ in range(n_levels - 1):
        images.append(downsample(images[-1]))
    return images


def _check_against_reference(reference: PreparedReference, moving: torch.Tensor) -> None:
    if not isinstance(moving, torch.Tensor) or moving.dim() != 4:
        shape = tuple(moving.shape) if isinstance(moving, torch.Tensor) else type(moving).__name__
        raise ValueError(f"moving must be shaped (N, C, H, W), got {shape}")
    expected = (reference.channels, *reference.size)
    if tuple(moving.shape[1:]) != expected:
        raise ValueError(f"moving must be shaped (N, {expected[0]}, {expected[1]}, {expected[2]}) like the reference, got {tuple(moving.shape)}")
    if moving.dtype != reference.frame.dtype:
        raise ValueError(f"moving must be {reference.frame.dtype} like the reference, got {moving.dtype}")
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
    iterations: int | Sequence[int] = (2, 3),
    damping: float = 1e-3,
    return_confidence: bool = False,
    forward_backward: bool = False,
    tolerance: float = 0.05,
    noise_floor: float = 1e-3,
):
    """Dense optical flow by coarse-to-fine Lucas-Kanade with B-spline warping.

    Args:
        ref: reference frames, (N, C, H, W) or (1, C, H, W) shared by all moving
            frames; float32 or float64; C of 1 (grey), 2 (grey + alpha), 3 (RGB)
            or 4 (RGBA), colour reduced to BT.601 luminance.
        moving: frames to measure, (N, C, H, W), same dtype, C, H, W.
        window: sigma (px) of the Gaussian window over which the flow is taken
            as a translation, at every pyramid level. Larger: less noise, less
            spatial detail. The effective window area is 4 pi window^2.
        presmooth: sigma (px) of a Gaussian applied to both frames first; it
            lowers the interpolation bias on sharp texture (0 disables).
        max_motion: largest displacement (px) the pyramid is built for.
        levels: pyramid levels; default from ``max_motion`` and the frame size.
        iterations: Gauss-Newton steps per level, finest first; the last value
            repeats for coarser levels.
        damping: step damping as a fraction of the mean structure-tensor trace;
            it does not change converged results on texture.
        return_confidence: also return a per-pixel confidence in [0, 1] (not differentiable).
        forward_backward: fold forward-backward consistency into the confidence
            (computes a second, backward flow).
        tolerance: error (px) at which the confidence is 0.5.
        noise_floor: smallest intensity noise assumed by the confidence.

    Returns:
        flow (N, 2, H, W), x first, px; with ``return_confidence`` also a
        confidence (N, 1, H, W). The flow is differentiable with respect to
        both frames; any H, W are accepted (frames are padded internally).

    Convention:
        ``moving(p + flow(p)) = ref(p)``: flow(p) is where the point seen at
        pixel p of ``ref`` has moved to in ``moving``. Pixel centres are at
        integer coordinates.

    Example:
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
        damping=damping,
        tolerance=tolerance,
        noise_floor=noise_floor,
    )
    return estimator(ref, moving, return_confidence=return_confidence, forward_backward=forward_backward)
