"""Scores shared by the benchmarks: image similarity to an exact render, motion measured by an independent flow,
and a process's own peak resident memory.

The independent flow is OpenCV's DIS (not vibmag's estimator), so a method is
never graded by the estimator it used.
"""

from __future__ import annotations

import numpy as np


def dis_flow(ref: np.ndarray, moving: np.ndarray, *, preset: str = "MEDIUM") -> np.ndarray:
    """OpenCV DIS flow (2, H, W), x first, px, with ``moving(p + flow(p)) = ref(p)``; inputs in [0, 1]."""
    import cv2

    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset}"))
    a = np.clip(ref * 255.0 + 0.5, 0, 255).astype(np.uint8)
    b = np.clip(moving * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return dis.calc(a, b, None).transpose(2, 0, 1)


def image_scores(out: np.ndarray, exact: np.ndarray, border: int) -> dict:
    """SSIM and PSNR (dB) of ``out`` against ``exact`` (both (H, W) in [0, 1]) away from a border."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    c = (slice(border, -border), slice(border, -border))
    return {
        "ssim": float(structural_similarity(out[c], exact[c], data_range=1.0)),
        "psnr": float(peak_signal_noise_ratio(exact[c], out[c], data_range=1.0)),
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB: the kernel's high-water mark ``VmHWM`` (Linux).

    Not getrusage's ``ru_maxrss``: a child process started by fork and exec (a benchmark's fresh probe
    process, a Dask worker) inherits its parent's value, so it would report the parent's peak when that
    is the larger. ``VmHWM`` belongs to the process's own address space.
    """
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status")
