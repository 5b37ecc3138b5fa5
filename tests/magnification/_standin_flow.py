"""A small differentiable coarse-to-fine Lucas-Kanade, used by these tests only
where vibmag.flow's estimator is not importable (same call signature)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gauss(sigma: float) -> torch.Tensor:
    r = int(3 * sigma + 0.5)
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    r = k.numel() // 2
    kx = k.to(x).view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = k.to(x).view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), kx, groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), ky, groups=c)


def _warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    n, _, h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=img.dtype), torch.arange(w, dtype=img.dtype), indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(img, torch.stack((gx, gy), -1), mode="bilinear", padding_mode="border", align_corners=True)


def _grad(x: torch.Tensor):
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = 0.5 * (p[..., 1:-1, 2:] - p[..., 1:-1, :-2])
    gy = 0.5 * (p[..., 2:, 1:-1] - p[..., :-2, 1:-1])
    return gx, gy


class StandinLK(torch.nn.Module):
    """flow(ref, moving) -> (N, 2, H, W), moving(p + flow(p)) = ref(p)."""

    def __init__(self, levels: int = 4, iters: int = 3, sigma: float = 2.0):
        super().__init__()
        self.levels, self.iters, self.sigma = levels, iters, sigma

    def forward(self, ref: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
        ref = ref.mean(1, keepdim=True).expand(moving.shape[0], 1, *ref.shape[-2:])
        moving = moving.mean(1, keepdim=True)
        pyr = [(ref, moving)]
        for _ in range(self.levels - 1):
            a, b = pyr[-1]
            if min(a.shape[-2:]) < 16:
                break
            pyr.append((F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)))
        k = _gauss(self.sigma)
        flow = torch.zeros(ref.shape[0], 2, *pyr[-1][0].shape[-2:], dtype=ref.dtype)
        for lvl, (a, b) in enumerate(reversed(pyr)):
            if lvl:
                flow = 2.0 * F.interpolate(flow, size=a.shape[-2:], mode="bilinear", align_corners=False)
            for _ in range(self.iters):
                wb = _warp(b, flow)
                gx, gy = _grad(0.5 * (a + wb))
                dt = wb - a
                sxx, syy, sxy = _blur(gx * gx, k), _blur(gy * gy, k), _blur(gx * gy, k)
                sxt, syt = _blur(gx * dt, k), _blur(gy * dt, k)
                eps = 1e-4
                det = (sxx + eps) * (syy + eps) - sxy * sxy
                dx = -((syy + eps) * sxt - sxy * syt) / det
                dy = -((sxx + eps) * syt - sxy * sxt) / det
                flow = flow + torch.cat([dx, dy], 1).clamp(-2, 2)
        return flow
