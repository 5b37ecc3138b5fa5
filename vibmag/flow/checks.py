"""Entry-point checks shared by the flow estimators: clear errors naming expected and actual."""

from __future__ import annotations

import torch

__all__ = ["check_frame_pair", "FLOAT_DTYPES"]

FLOAT_DTYPES = (torch.float32, torch.float64)


def check_frame_pair(ref: torch.Tensor, moving: torch.Tensor) -> None:
    """Raise unless ``ref`` and ``moving`` are a valid (N, C, H, W) pair.

    Both must be float32 or float64 tensors of the same dtype and device,
    shaped (N, C, H, W) with the same C, H, W; ``ref`` may have N = 1 (one
    reference shared by every moving frame) or the same N as ``moving``.
    """
    for name, x in (("ref", ref), ("moving", moving)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4:
            raise ValueError(f"{name} must be shaped (N, C, H, W), got shape {tuple(x.shape)}")
        if x.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{name} must be float32 or float64, got {x.dtype}")
        if min(x.shape[-2:]) < 2:
            raise ValueError(f"{name} must be at least 2x2 pixels, got shape {tuple(x.shape)}")
    if ref.dtype != moving.dtype:
        raise ValueError(f"ref and moving must share a dtype, got {ref.dtype} and {moving.dtype}")
    if ref.device != moving.device:
        raise ValueError(f"ref and moving must be on one device, got {ref.device} and {moving.device}")
    if ref.shape[1:] != moving.shape[1:]:
        raise ValueError(
            f"ref and moving must have the same (C, H, W), got ref {tuple(ref.shape)} and moving {tuple(moving.shape)}"
        )
    if ref.shape[0] not in (1, moving.shape[0]):
        raise ValueError(
            f"ref must have batch size 1 or moving's ({moving.shape[0]}), got ref {tuple(ref.shape)}"
        )
