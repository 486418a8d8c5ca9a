"""Sampling the pixels the networks see (PyTorch): the antialiased resize to an input size, warping
through affine maps (``core.geometry``'s convention), cutting patches and the intensity
standardisation every network input gets. Training and inference both use these, so both see
the same pixels; ``core.runtime.arrays`` is the NumPy twin the compiled runtime uses.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def warp(image: torch.Tensor, matrices: torch.Tensor, out_size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Sample ``image (C, Hi, Wi)`` through each matrix ``(B, 2, 3)`` → (B, C, h, w).

    Outside the input the result is 0. ``mode="nearest"`` is for masks.
    """
    h, w = out_size
    hi, wi = image.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=image.dtype, device=image.device),
        torch.arange(w, dtype=image.dtype, device=image.device),
        indexing="ij",
    )
    ones = torch.ones_like(xs)
    grid_out = torch.stack([xs, ys, ones], dim=-1).reshape(-1, 3)  # (h·w, 3)
    m = matrices.to(image.dtype)
    coords = grid_out @ m.transpose(1, 2)  # (B, h·w, 2) input pixels
    gx = (2.0 * coords[..., 0] + 1.0) / wi - 1.0
    gy = (2.0 * coords[..., 1] + 1.0) / hi - 1.0
    grid = torch.stack([gx, gy], dim=-1).reshape(-1, h, w, 2)
    src = image.unsqueeze(0).expand(grid.shape[0], *image.shape)
    return F.grid_sample(src, grid, mode=mode, padding_mode="zeros", align_corners=False)


def standardise(images: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per image (B, C, h, w): the network input.

    Standardising each input makes DICOM windows, PNG contrast and
    brightness/contrast augmentation irrelevant to the network.
    """
    mean = images.mean(dim=(-3, -2, -1), keepdim=True)
    std = images.std(dim=(-3, -2, -1), keepdim=True).clamp_min(1e-6)
    return (images - mean) / std


def resize_image(image: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Anti-aliased resize of a (H, W) image to ``size`` (h, w) → (1, h, w) float32."""
    t = torch.as_tensor(np.asarray(image, dtype=np.float32))[None, None]
    if tuple(t.shape[-2:]) == tuple(size):
        return t[0]
    return F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def cut_patches(fine: torch.Tensor, matrices: np.ndarray, patch_size: int) -> torch.Tensor:
    """Standardised patches (N, 1, P, P) from a fine-grid image (1, Hf, Wf)."""
    patches = warp(fine, torch.as_tensor(matrices, dtype=torch.float32), (patch_size, patch_size))
    return patches
