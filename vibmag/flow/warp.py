"""Resampling images along a flow field: cubic B-spline and bilinear warps.

Convention (kept by every estimator in :mod:`vibmag.flow`): a flow of shape
(N, 2, H, W), x component first, in pixels, relates two frames by

    moving(p + flow(p)) = ref(p)

so :func:`warp` ``(moving, flow)`` resamples ``moving`` onto the reference
grid. Pixel centres sit at integer coordinates (0 .. W-1, 0 .. H-1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .filters import bspline_prefilter_kernel, central_gradient, separable_filter

__all__ = ["pixel_grid", "bspline_coefficients", "spline_gradient", "sample_bspline", "sample_bspline_components", "warp"]

#: Largest ``grid_sample`` grid of one call, bytes. glibc maps blocks above its mmap threshold (at most 32 MiB)
#: afresh on every allocation, a page fault per 4 KiB; smaller blocks are reused from its heap. The grid of
#: 16 frames of 512 x 512 is 128 MiB: sampled two frames at a time, ``sample_bspline`` ran 1.9-3x faster.
_GRID_BYTES = 16 * 2**20

#: Values of the cubic B-spline at offsets -1, 0, 1: evaluating a spline at the pixel centres.
_BSPLINE_AT_PIXELS = (1.0 / 6.0, 4.0 / 6.0, 1.0 / 6.0)


def pixel_grid(height: int, width: int, *, dtype: torch.dtype = torch.float32, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``(x, y)``, each shaped (H, W); centres at integers."""
    y = torch.arange(height, dtype=dtype, device=device).view(height, 1).expand(height, width)
    x = torch.arange(width, dtype=dtype, device=device).view(1, width).expand(height, width)
    return x, y


def bspline_coefficients(image: torch.Tensor) -> torch.Tensor:
    """Cubic B-spline coefficients of (N, C, H, W) images (same shape).

    The spline through these coefficients passes exactly through the pixel
    values (to float precision, borders included); :func:`sample_bspline`
    evaluates it anywhere. The image is extended by mirroring about its edge
    pixels, the boundary condition :func:`sample_bspline` uses.
    """
    return separable_filter(image, bspline_prefilter_kernel())


def spline_gradient(coefficients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact derivatives ``(d/dx, d/dy)`` of the cubic spline at the pixel centres, each (N, C, H, W).

    d/dx is the central difference of the coefficients along x, evaluated by
    the spline along y (taps 1/6, 4/6, 1/6), and likewise for d/dy: the
    gradient filter matched to :func:`sample_bspline`.
    """
    d_dx, d_dy = central_gradient(coefficients)
    return (
        separable_filter(d_dx, (1.0,), _BSPLINE_AT_PIXELS),
        separable_filter(d_dy, _BSPLINE_AT_PIXELS, (1.0,)),
    )


def sample_bspline(coefficients: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Evaluate cubic B-splines at ``p + flow(p)`` for every pixel p.

    Each 4x4 cubic B-spline is evaluated with four bilinear fetches whose
    positions absorb the (all positive) spline weights (Sigg & Hadwiger,
    GPU Gems 2, ch. 20), so it costs four ``grid_sample`` lookups done in one
    call. Differentiable with respect to both arguments.

    Parameters
    ----------
    coefficients : torch.Tensor, shape (N, C, H, W)
        From :func:`bspline_coefficients`.
    flow : torch.Tensor, shape (N, 2, H, W)
        In px, x first.

    Returns
    -------
    torch.Tensor, shape (N, C, H, W)
        The interpolated image at the displaced positions.

    Convention
    ----------
    Positions outside the image read the spline of the image mirrored
    about its edge pixels.
    """
    height, width = coefficients.shape[-2:]
    base_x, base_y = pixel_grid(height, width, dtype=flow.dtype, device=flow.device)
    return _sample_fetches(coefficients, _axis_fetches(base_x + flow[:, 0], width), _axis_fetches(base_y + flow[:, 1], height))


def sample_bspline_components(coefficients: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The splines at ``p + flow``, at ``p + (0, flow_y)`` and at ``p + (flow_x, 0)``: each (N, C, H, W).

    Equal, bit for bit, to three :func:`sample_bspline` calls with the flow,
    the flow with x set to 0 and the flow with y set to 0, at the cost of two
    axes' fetch weights instead of six (an unmoved axis's are the pixel
    grid's, shared by every frame). What :class:`vibmag.flow.evidence.MotionEvidence`
    needs: what the motion, and each component of it, explains.
    """
    height, width = coefficients.shape[-2:]
    base_x, base_y = pixel_grid(height, width, dtype=flow.dtype, device=flow.device)
    moving_x, moving_y = _axis_fetches(base_x + flow[:, 0], width), _axis_fetches(base_y + flow[:, 1], height)
    still_x, still_y = _axis_fetches(base_x, width), _axis_fetches(base_y, height)
    return tuple(_sample_fetches(coefficients, x, y) for x, y in ((moving_x, moving_y), (still_x, moving_y), (moving_x, still_y)))


def _axis_fetches(position: torch.Tensor, size: int):
    """Along one axis of ``size`` px: the weights of the two linear fetches at ``position`` px and their grid coordinates.

    Returns ``(w0, g0, g1)``, each shaped like ``position``: the first
    fetch's weight (the second's is 1 - w0) and the fetches' coordinates in
    ``grid_sample``'s [-1, 1] (align_corners=True).
    """
    w0, p0, p1 = _linear_fetches(position)
    return w0, _grid_coordinate(p0, size), _grid_coordinate(p1, size)


def _sample_fetches(coefficients: torch.Tensor, x_fetches, y_fetches) -> torch.Tensor:
    """(N, C, H, W) spline values from the x and y axes' :func:`_axis_fetches`, each (N, H, W) or (H, W).

    Frames go through in groups whose ``grid_sample`` grid stays within
    :data:`_GRID_BYTES` (the results are the same for any grouping).
    """
    n, _, height, width = coefficients.shape
    per_group = max(1, _GRID_BYTES // (8 * height * width * coefficients.element_size()))
    if n <= per_group:
        return _sample_group(coefficients, x_fetches, y_fetches)

    def rows(fetches, start):
        return tuple(f if f.dim() == 2 else f[start:start + per_group] for f in fetches)

    return torch.cat([_sample_group(coefficients[start:start + per_group], rows(x_fetches, start), rows(y_fetches, start))
                      for start in range(0, n, per_group)])


def _sample_group(coefficients: torch.Tensor, x_fetches, y_fetches) -> torch.Tensor:
    """:func:`_sample_fetches` for one group of frames: one ``grid_sample`` call reads the four bilinear fetches.

    The grid's (y fetch, x fetch) blocks are filled by broadcasting, so an
    axis's fetches shared by all frames are not copied per frame first. The
    four values are blended with the first fetches' weights by three linear
    interpolations.
    """
    n, _, height, width = coefficients.shape
    wx0, gx0, gx1 = x_fetches
    wy0, gy0, gy1 = y_fetches
    grid = torch.empty((n, 2, 2, height, width, 2), dtype=gx0.dtype, device=gx0.device)  # (y fetch, x fetch)
    grid[..., 0] = torch.stack((gx0, gx1), dim=-3).unsqueeze(-4)
    grid[..., 1] = torch.stack((gy0, gy1), dim=-3).unsqueeze(-3)
    fetched = F.grid_sample(
        coefficients, grid.view(n, 4 * height, width, 2), mode="bilinear", padding_mode="reflection", align_corners=True
    )
    s00, s01, s10, s11 = fetched.split(height, dim=2)
    wx0, wy0 = wx0.unsqueeze(-3), wy0.unsqueeze(-3)
    return torch.lerp(torch.lerp(s11, s10, wx0), torch.lerp(s01, s00, wx0), wy0)


def _linear_fetches(position: torch.Tensor):
    """Split the 4-tap cubic B-spline at ``position`` into two weighted linear fetches.

    Returns ``(w0, p0, p1)`` with value = w0 * lerp(p0) + (1 - w0) * lerp(p1).
    With ``t`` the position's fraction, the taps at index - 1 .. index + 2 are
    b0 = (1 - t)^3 / 6, b1 = t^3 / 2 - t^2 + 2 / 3, b2, and b3 = t^3 / 6; they sum
    to 1, so the second fetch's weight b2 + b3 is 1 - (b0 + b1) and b2 is never formed.
    """
    index = torch.floor(position)
    t = position - index
    t2 = t * t
    t3 = t2 * t
    b0 = (1.0 - t) ** 3 / 6.0
    b1 = 0.5 * t3 - t2 + 2.0 / 3.0
    w0 = b0 + b1
    return w0, index + (b1 / w0 - 1.0), index + (t3 / (6.0 * (1.0 - w0)) + 1.0)


def _normalized_grid(pos_x: torch.Tensor, pos_y: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel positions (N, H, W) -> ``grid_sample`` grid (N, H, W, 2) for align_corners=True."""
    return torch.stack((_grid_coordinate(pos_x, width), _grid_coordinate(pos_y, height)), dim=-1)


def _grid_coordinate(position: torch.Tensor, size: int) -> torch.Tensor:
    """Positions in px along an axis of ``size`` px -> ``grid_sample``'s [-1, 1] (align_corners=True)."""
    return position * (2.0 / max(size - 1, 1)) - 1.0


def _reflect(pos: torch.Tensor, last: int) -> torch.Tensor:
    """Reflect coordinates into [0, last] about the border pixel centres."""
    if last == 0:
        return torch.zeros_like(pos)
    period = 2.0 * last
    pos = torch.remainder(pos, period)
    return torch.where(pos > last, period - pos, pos)


def _bilinear_gather(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear ``image(p + flow(p))`` from explicitly gathered neighbours, positions in px (mirrored at the borders)."""
    n, c, h, w = image.shape
    gx, gy = pixel_grid(h, w, dtype=flow.dtype, device=flow.device)
    x = _reflect(gx + flow[:, 0], w - 1)
    y = _reflect(gy + flow[:, 1], h - 1)
    x0 = x.detach().floor().clamp(0, w - 1)
    y0 = y.detach().floor().clamp(0, h - 1)
    wx = (x - x0).unsqueeze(1)
    wy = (y - y0).unsqueeze(1)
    x0, y0 = x0.long(), y0.long()
    x1 = (x0 + 1).clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    flat = image.reshape(n, c, h * w)

    def fetch(yy, xx):
        index = (yy * w + xx).view(n, 1, h * w).expand(n, c, h * w)
        return flat.gather(2, index).view(n, c, h, w)

    top = fetch(y0, x0) * (1 - wx) + fetch(y0, x1) * wx
    bottom = fetch(y1, x0) * (1 - wx) + fetch(y1, x1) * wx
    return top * (1 - wy) + bottom * wy


def warp(image: torch.Tensor, flow: torch.Tensor, *, interpolation: str = "bspline", exact: bool = False) -> torch.Tensor:
    """Resample ``image`` at ``p + flow(p)``: the moving frame brought onto the reference grid.

    Parameters
    ----------
    image : torch.Tensor, shape (N, C, H, W)
        Float tensor (the moving frame).
    flow : torch.Tensor, shape (N, 2, H, W)
        In px, x first, with ``moving(p + flow(p)) = ref(p)``.
    interpolation : str
        ``"bspline"`` (cubic B-spline, exact at pixel centres and
        the interpolator vibmag's estimators are matched to) or ``"bilinear"``.
    exact : bool
        Bilinear only: gather the four neighbours explicitly at positions
        in px instead of calling ``grid_sample`` (which rescales positions to
        [-1, 1] and back), so that a zero flow returns ``image`` bit for bit
        and an integer flow moves pixels exactly. Same convention, equal to
        the default bilinear warp up to float rounding; it is the warp of
        :class:`vibmag.magnification.Magnifier`, where it makes alpha = 1 the
        identity.

    Returns
    -------
    torch.Tensor, shape (N, C, H, W)
        ``image(p + flow(p))``, which matches the reference frame
        where the flow is right.

    Raises
    ------
    ValueError
        If the shapes do not fit, ``interpolation`` is unknown, or ``exact``
        is asked of the B-spline warp.

    Convention
    ----------
    Positions outside the image read the image mirrored about its edge pixels.

    Examples
    --------
    >>> import torch
    >>> from vibmag.flow import warp
    >>> img = torch.rand(1, 1, 16, 16)
    >>> torch.allclose(warp(img, torch.zeros(1, 2, 16, 16)), img, atol=1e-5)
    True
    """
    if image.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"expected image (N, C, H, W) and flow (N, 2, H, W), got {tuple(image.shape)} and {tuple(flow.shape)}"
        )
    if image.shape[0] != flow.shape[0] or image.shape[-2:] != flow.shape[-2:]:
        raise ValueError(
            f"image and flow must share N, H and W, got {tuple(image.shape)} and {tuple(flow.shape)}"
        )
    if interpolation == "bspline":
        if exact:
            raise ValueError("exact=True is a bilinear option: use interpolation='bilinear'")
        return sample_bspline(bspline_coefficients(image), flow)
    if interpolation == "bilinear":
        if exact:
            return _bilinear_gather(image, flow)
        height, width = image.shape[-2:]
        base_x, base_y = pixel_grid(height, width, dtype=flow.dtype, device=flow.device)
        grid = _normalized_grid(base_x + flow[:, 0], base_y + flow[:, 1], height, width)
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    raise ValueError(f"interpolation must be 'bspline' or 'bilinear', got {interpolation!r}")
