"""The magnification generator G(I0, It, alpha) -> J (METHOD.md section 1).

The generator predicts a displacement field and a residual image and applies
them to ``It``:

    D = S(F(I0, It)) + dD(I0, It, F, c, enc(alpha))   (flow-conditioned variant)
    D = dD(I0, It, enc(alpha))                        (images-only variant, the paper's inputs)
    J(q) = It(q - (alpha(q) - 1) * D(q)) + (1 - 1/alpha(q)) * R(q)

with S a confidence-weighted Gaussian smoothing of the frozen estimator's
flow (``flow_smoothing`` px; see :func:`smooth_flow`), so a material point
that moved by ``F(I0, It)`` between I0 and It appears
moved by ``alpha`` times as much in J. Where ``alpha == 1`` the warp
displacement and the residual gate are exactly zero, and :func:`warp` reads
pixel centres exactly, so ``J == It`` bit for bit there: alpha = 1 is the
identity by construction, per pixel.

The model holds no losses, optimiser, configuration object or flow estimator:
the frozen estimator's F(I0, It) and confidence are passed to ``forward`` as
``flow`` and ``confidence`` (:mod:`vibmag.magnification.infer` computes them), so
the state dict holds the generator's weights only.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..flow.confidence import error_from_confidence
from ..flow.filters import gaussian_kernel1d, separable_filter, to_luminance
from ..flow.warp import pixel_grid
from ..flow.warp import warp as _warp
from .splat import landed_shift

__all__ = ["Magnifier", "alpha_encoding", "warp", "pixel_grid", "VARIANTS"]

VARIANTS = ("flow", "images")
BASES = ("warp", "splat")
#: How the warp resamples It: the training's bilinear, or cubic B-spline (the shipped model's inference).
RESAMPLINGS = ("bilinear", "bspline")
#: How the network reads the confidence: as is, or as the log of the flow error it stands for.
CONFIDENCE_ENCODINGS = ("linear", "log-error")
_CONFIDENCE_TOLERANCE = 0.05  # px: vibmag.flow's confidence is 1 / (1 + (error / 0.05)^2)
_FLOW_SCALE = 2.0  # px -> network input units (sub-pixel motions become O(0.1 .. 2))


def alpha_encoding(alpha: torch.Tensor, n_sin: int = 16) -> torch.Tensor:
    """Per-pixel features of a magnification map.

    Parameters
    ----------
    alpha : torch.Tensor, shape (N, 1, H, W)
        Magnification factors (>= 0).
    n_sin : int
        Number of sinusoidal channels ``sin(2 pi alpha / lambda_k)``
        with ``lambda_k`` log-spaced over ``2**-3 .. 2**7`` (the paper's
        encoding, fewer channels).

    Returns
    -------
    torch.Tensor, shape (N, n_sin + 2, H, W)
        The sinusoids, ``log2(alpha) / 4`` and
        ``1 - 1 / alpha`` (both 0 at alpha = 1).

    Raises
    ------
    ValueError
        If ``alpha`` is not shaped (N, 1, H, W).
    """
    if alpha.dim() != 4 or alpha.shape[1] != 1:
        raise ValueError(f"alpha must be shaped (N, 1, H, W), got {tuple(alpha.shape)}")
    a = alpha.clamp_min(1e-3)
    feats = []
    if n_sin:
        lam = torch.logspace(-3, 7, n_sin, base=2.0, dtype=alpha.dtype, device=alpha.device).view(1, -1, 1, 1)
        feats.append(torch.sin(2 * math.pi * a / lam))
    feats += [torch.log2(a) / 4.0, 1.0 - 1.0 / a]
    return torch.cat(feats, dim=1)


def warp(image: torch.Tensor, flow: torch.Tensor, resampling: str = "bilinear") -> torch.Tensor:
    """Backward warp ``image(p + flow(p))`` with reflection at borders; exactly ``image`` where the flow is 0.

    Parameters
    ----------
    image : torch.Tensor, shape (N, C, H, W)
    flow : torch.Tensor, shape (N, 2, H, W)
        px, x first.
    resampling : {"bilinear", "bspline"}
        ``"bilinear"``: ``vibmag.flow.warp(..., interpolation="bilinear", exact=True)``,
        samples gathered explicitly so a zero flow returns ``image`` bit for
        bit. ``"bspline"``: cubic B-spline (``vibmag.flow.warp``'s default,
        far less blur on fine texture), with ``image`` itself kept wherever
        the flow is exactly 0.

    Returns
    -------
    torch.Tensor, shape (N, C, H, W)

    Convention
    ----------
    Either way a zero flow returns ``image`` exactly: that is what makes
    alpha = 1 the identity of :class:`Magnifier`.
    """
    if resampling == "bilinear":
        return _warp(image, flow, interpolation="bilinear", exact=True)
    still = (flow == 0).all(dim=1, keepdim=True)
    return torch.where(still, image, _warp(image, flow, interpolation="bspline"))


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, padding_mode="replicate"),
            nn.LeakyReLU(0.1),
            nn.Conv2d(cout, cout, 3, padding=1, padding_mode="replicate"),
            nn.LeakyReLU(0.1),
        )


class _UNet(nn.Module):
    """A plain U-Net (no normalisation): ``len(widths)`` levels, x2 pooling between them."""

    def __init__(self, cin: int, cout: int, widths: tuple[int, ...]):
        super().__init__()
        self.down = nn.ModuleList()
        prev = cin
        for width in widths:
            self.down.append(_Block(prev, width))
            prev = width
        self.up = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(_Block(prev + width, width))
            prev = width
        self.head = nn.Conv2d(prev, cout, 3, padding=1, padding_mode="replicate")
        nn.init.zeros_(self.head.weight)  # start as the plain (smoothed Lagrangian) warp
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.avg_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


class Magnifier(nn.Module):
    """Self-supervised motion magnifier G(I0, It, alpha) -> J.

    Parameters
    ----------
    variant : str
        ``"flow"`` (the network also sees the frozen flow estimate
        F(I0, It) and its confidence and corrects the field it implies) or
        ``"images"`` (the paper's inputs: the two frames and alpha only).
    widths : tuple of int
        Channel widths of the U-Net levels.
    n_sin : int
        Sinusoidal alpha channels (:func:`alpha_encoding`).
    max_alpha : float
        The largest alpha seen in training; inference beyond it
        applies the model repeatedly (:mod:`vibmag.magnification.infer`).
    flow_smoothing : float
        Sigma (px) of the confidence-weighted Gaussian
        smoothing of the input flow (flow variant; 0 disables).
    base : str
        How the field moves It: ``"warp"`` (backward, ``It(q - (alpha - 1) D(q))``)
        or ``"splat"`` (z-ordered forward splat of It by ``(alpha - 1) D``, holes
        from the backward warp; :func:`vibmag.magnification.splat.forward_splat`).
    resampling : {"bilinear", "bspline"}
        How the warp samples It (:func:`warp`). The network's outputs do not
        depend on it; :func:`vibmag.load_model` sets ``"bspline"``, which on
        noise-free fine speckle leaves 6-9x less error against the exact render.
    confidence_encoding : {"linear", "log-error"}
        How the network reads the flow's confidence (:func:`encode_confidence`); with ``"log-error"`` the
        learned correction is also scaled by that channel, so a noise-free flow keeps the smoothed field.
    correction_floor : float
        With ``"log-error"``: the share in [0, 1] of the correction kept for a noise-free flow (scale
        ``floor + (1 - floor) * channel``); 0 (the shipped model) lets the network only denoise.

    Raises
    ------
    ValueError
        If ``variant``, ``base``, ``resampling`` or ``confidence_encoding`` is not one of its choices, or
        ``correction_floor`` is outside [0, 1].

    Shapes
    ------
    ``i0`` (N or 1, C, H, W), ``it`` (N, C, H, W), float in [0, 1]; ``alpha``
    a number, (N,) or (N, 1, H, W). The network reads the BT.601 luminance
    (:func:`vibmag.flow.filters.to_luminance`: C = 1 as is, C = 2 channel 0,
    C = 3 or 4 RGB weighted); the field and the residual apply to every channel. The U-Net runs
    at half resolution on space-to-depth packed frames (so no detail is
    lost) and returns a half-resolution field (upsampled bilinearly) and
    a full-resolution residual (depth-to-space). Any H, W works;
    multiples of ``2 ** len(widths)`` avoid resampling seams.
    """

    def __init__(
        self,
        variant: str = "flow",
        widths: tuple[int, ...] = (16, 32, 64, 96),
        n_sin: int = 16,
        max_alpha: float = 16.0,
        flow_smoothing: float = 1.5,
        base: str = "warp",
        resampling: str = "bilinear",
        confidence_encoding: str = "linear",
        correction_floor: float = 0.0,
    ):
        super().__init__()
        if not 0.0 <= correction_floor <= 1.0:
            raise ValueError(f"correction_floor must be in [0, 1], got {correction_floor}")
        self.correction_floor = float(correction_floor)
        if confidence_encoding not in CONFIDENCE_ENCODINGS:
            raise ValueError(f"confidence_encoding must be one of {CONFIDENCE_ENCODINGS}, got {confidence_encoding!r}")
        self.confidence_encoding = confidence_encoding
        self.flow_smoothing = float(flow_smoothing)
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {base!r}")
        if resampling not in RESAMPLINGS:
            raise ValueError(f"resampling must be one of {RESAMPLINGS}, got {resampling!r}")
        self.base = base
        self.resampling = resampling
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.widths = tuple(int(w) for w in widths)
        self.n_sin = int(n_sin)
        self.max_alpha = float(max_alpha)
        cin = 12 + (n_sin + 2) + (3 if variant == "flow" else 0)
        self.net = _UNet(cin, 6, self.widths)  # 2 field channels (half res) + 4 residual sub-pixels
        if variant == "images":
            # a zero head (the flow variant's exact Lagrangian start) would starve the inner layers of
            # gradient; the images variant must learn motion from pixels, so it starts from PyTorch's default
            self.net.head.reset_parameters()

    @property
    def uses_flow(self) -> bool:
        """Whether forward needs the flow estimate F(I0, It)."""
        return self.variant == "flow"

    @property
    def corrects_certain_flow(self) -> bool:
        """Whether the learned correction acts on a flow given with a confidence of 1 (as :func:`vibmag.magnify` gives it).

        False for the ``"log-error"`` encoding without a correction floor (the shipped model): its correction scales
        with the flow's predicted noise, which is then 0.
        """
        return not (self.uses_flow and self.confidence_encoding == "log-error" and not self.correction_floor)

    def config(self) -> dict:
        """Constructor arguments (plain values) that rebuild this architecture."""
        config = {"variant": self.variant, "widths": list(self.widths), "n_sin": self.n_sin, "max_alpha": self.max_alpha,
                  "flow_smoothing": self.flow_smoothing}
        if self.base != "warp":
            config["base"] = self.base
        if self.resampling != "bilinear":
            config["resampling"] = self.resampling
        if self.confidence_encoding != "linear":
            config["confidence_encoding"] = self.confidence_encoding
        if self.correction_floor:
            config["correction_floor"] = self.correction_floor
        return config

    def forward(
        self,
        i0: torch.Tensor,
        it: torch.Tensor,
        alpha,
        *,
        flow: torch.Tensor | None = None,
        confidence: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The magnified frame J, (N, C, H, W).

        Parameters
        ----------
        i0 : torch.Tensor, shape (1 or N, C, H, W)
            The reference frame I0.
        it : torch.Tensor, shape (N, C, H, W)
            The frames It to magnify.
        alpha : float or torch.Tensor
            A number, (N,), (H, W) or (N or 1, 1, H or 1, W or 1).
        flow : torch.Tensor, shape (N, 2, H, W), optional
            F(I0, It) in px, required by the ``"flow"`` variant (compute it
            with :func:`vibmag.magnification.losses.flow_and_confidence`).
        confidence : torch.Tensor, shape (N, 1, H, W), optional
            Its confidence in [0, 1]; a missing confidence counts as 1.

        Returns
        -------
        torch.Tensor, shape (N, C, H, W)

        Raises
        ------
        ValueError
            If a shape does not fit, or the ``"flow"`` variant gets no flow.
        """
        if it.dim() != 4:
            raise ValueError(f"it must be shaped (N, C, H, W), got {tuple(it.shape)}")
        if i0.dim() != 4 or i0.shape[1:] != it.shape[1:] or i0.shape[0] not in (1, it.shape[0]):
            raise ValueError(f"i0 must be shaped (1 or N, C, H, W) like it {tuple(it.shape)}, got {tuple(i0.shape)}")
        alpha = expand_alpha(alpha, it.shape[0], *it.shape[-2:], it)
        field, residual = self.predict(i0, it, alpha, flow=flow, confidence=confidence)
        return self.render(it, alpha, field, residual)

    def predict(self, i0: torch.Tensor, it: torch.Tensor, alpha: torch.Tensor, *, flow=None, confidence=None):
        """The network's ``(D, R)``: the field D (N, 2, H, W) in px of input motion and the residual R (N, 1, H, W).

        ``alpha`` is (N, 1, H, W) (see :func:`expand_alpha`); other arguments as :meth:`forward`'s.
        The magnified frame is :meth:`render` of them.
        """
        n, _, h, w = it.shape
        if self.uses_flow:
            if flow is None:
                raise ValueError("the flow-conditioned Magnifier needs flow=F(I0, It) (N, 2, H, W)")
            if flow.shape != (n, 2, h, w):
                raise ValueError(f"flow must be shaped {(n, 2, h, w)}, got {tuple(flow.shape)}")
        # the network runs at half resolution: images are space-to-depth packed (no detail lost),
        # the smooth inputs (alpha, flow, confidence) are averaged
        ph, pw = h % 2, w % 2
        g0 = _pad_even(to_luminance(i0).expand(n, 1, h, w), ph, pw)
        gt = _pad_even(to_luminance(it), ph, pw)
        images = F.pixel_unshuffle(torch.cat([g0, gt, 4.0 * (gt - g0)], dim=1), 2)
        inputs = [images, alpha_encoding(F.avg_pool2d(_pad_even(alpha, ph, pw), 2), self.n_sin)]
        if self.uses_flow:
            if confidence is None:
                confidence = torch.ones_like(alpha)
            confidence = confidence.to(flow)
            # D starts from the confidence-weighted, Gaussian-smoothed flow: the losses would reward copying
            # the estimator's per-pixel noise times alpha; the network learns to restore motion edges
            flow = smooth_flow(flow, confidence, self.flow_smoothing)
            reliability = encode_confidence(confidence, self.confidence_encoding)
            if self._network_adds_nothing(reliability):
                return flow, flow.new_zeros((n, 1, h, w))
            smooth = torch.cat([flow / _FLOW_SCALE, reliability], dim=1)
            inputs.append(F.avg_pool2d(_pad_even(smooth, ph, pw), 2))
        features = torch.cat(inputs, dim=1)
        if not self.training:  # channels-last convolutions: about 2x faster on CPU; training keeps its exact order
            features = features.contiguous(memory_format=torch.channels_last)
        out = self.net(features)
        field = F.interpolate(out[:, :2], scale_factor=2, mode="bilinear", align_corners=False)[..., :h, :w] / _FLOW_SCALE
        if self.uses_flow:
            # with the log-error encoding the correction scales with the flow's predicted noise: a noise-free
            # flow (also a confidence of 1) keeps the smoothed field exactly unless a correction floor is set
            if self.confidence_encoding == "log-error":
                field = field * (self.correction_floor + (1.0 - self.correction_floor) * reliability)
            field = field + flow
        return field, 0.1 * F.pixel_shuffle(out[:, 2:6], 2)[..., :h, :w]

    def _network_adds_nothing(self, reliability: torch.Tensor) -> bool:
        """Whether the U-Net's output provably drops out of :meth:`predict` (so it need not run; inference only).

        With the ``"log-error"`` encoding the correction is scaled by the reliability channel, which is 0 where
        the flow is noise-free (a confidence of 1, as :func:`vibmag.magnify` passes for band-passed
        displacement); the residual R is 0 when its output rows of the head are all zero (the shipped model's:
        its objective never trains them). Then D is the smoothed flow and R = 0 whatever the network computes.
        """
        if self.training or torch.is_grad_enabled() or self.confidence_encoding != "log-error" or self.correction_floor:
            return False
        head = self.net.head
        residual_off = not bool(head.weight[2:].any()) and (head.bias is None or not bool(head.bias[2:].any()))
        return residual_off and not bool(reliability.any())

    def render(self, it: torch.Tensor, alpha: torch.Tensor, field: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """J(q) = base(It, (alpha - 1) D) + (1 - 1/alpha) R, (N, C, H, W): exactly It where alpha == 1.

        The base is the backward warp It(q - (alpha - 1) D(q)) or, for ``base="splat"``, the z-ordered forward
        splat of It by (alpha - 1) D with the backward warp filling its holes, rendered by splatting the shift and
        resampling It there (:func:`vibmag.magnification.splat.splat_warp`, no splat blur).
        """
        shift = (alpha - 1.0) * field
        if self.base == "splat":
            shift = landed_shift(shift)  # as splat_warp does, with this model's resampling
        magnified = warp(it, -shift, self.resampling)
        return magnified + (1.0 - 1.0 / alpha.clamp_min(1e-3)) * residual

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, widths={self.widths}, n_sin={self.n_sin}, max_alpha={self.max_alpha}"


def encode_confidence(confidence: torch.Tensor, encoding: str) -> torch.Tensor:
    """The network's confidence channel (N, 1, H, W).

    ``"linear"``: the confidence itself. ``"log-error"``: the predicted flow error it stands for,
    ``e = 0.05 sqrt(1/c - 1)`` px (vibmag.flow's confidence mapping inverted), as ``log10(e / 1 px) / 3 + 1``
    with e clipped to [1e-3, 1] px, so 0 is a noise-free flow (also a confidence of 1, what a band-passed
    displacement gets) and each decade of flow noise is a third: the noise levels of sub-pixel
    vibration (0.001-0.05 px) that the linear confidence squeezes into 0.5-1 are spread apart.
    With this encoding :meth:`Magnifier.predict` also multiplies the learned correction by the channel.
    """
    if encoding == "linear":
        return confidence
    error = error_from_confidence(confidence, _CONFIDENCE_TOLERANCE)
    return torch.log10(error.clamp(1e-3, 1.0)) / 3.0 + 1.0


def smooth_flow(flow: torch.Tensor, confidence: torch.Tensor, sigma: float) -> torch.Tensor:
    """Confidence-weighted Gaussian smoothing (normalised convolution) of a flow (N, 2, H, W); sigma in px.

    The kernel is :func:`~vibmag.flow.filters.gaussian_kernel1d` (radius ``ceil(3 sigma)``), borders replicated.
    """
    if sigma <= 0:
        return flow
    weight = confidence.clamp_min(1e-3)
    stacked = separable_filter(torch.cat([flow * weight, weight], dim=1), gaussian_kernel1d(sigma), padding="replicate")
    return stacked[:, :2] / stacked[:, 2:]


def _pad_even(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if (ph or pw) else x


def expand_alpha(alpha, n: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """A number, (N,), (H, W), (N or 1, 1, H or 1, W or 1) alpha as an (N, 1, H, W) tensor."""
    a = torch.as_tensor(alpha, dtype=like.dtype, device=like.device)
    if a.dim() == 0:
        return a.expand(n, 1, h, w)
    if a.dim() == 1 and a.shape[0] in (1, n):
        return a.view(-1, 1, 1, 1).expand(n, 1, h, w)
    if a.dim() == 2 and a.shape == (h, w):
        return a.view(1, 1, h, w).expand(n, 1, h, w)
    if a.dim() == 4 and a.shape[1] == 1 and a.shape[0] in (1, n) and a.shape[-2] in (1, h) and a.shape[-1] in (1, w):
        return a.expand(n, 1, h, w)
    raise ValueError(f"alpha must be a number, (N,), (H, W) or (N, 1, H, W) with N={n}, H={h}, W={w}; got shape {tuple(a.shape)}")
