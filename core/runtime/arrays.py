"""The pipeline's array steps in NumPy and Pillow, for the compiled runtime (no PyTorch).

Each function is the NumPy twin of a ``core.geometry`` (PyTorch) step, to float32
rounding; ``tests/core/test_runtime.py`` holds them equal on random inputs:

- :func:`resize_image`: antialiased bilinear resize. PyTorch's ``antialias=True``
  reproduces Pillow's triangle filter, so Pillow's "F"-mode resize is the same
  operation (≤ 2e-7 of the range for the global input; ≤ 4e-5 at a 2× reduction).
- :func:`standardise`: zero mean, unit variance (Bessel-corrected, as ``Tensor.std``).
- :func:`warp`: bilinear sampling through (B, 2, 3) matrices with zeros outside, as
  ``grid_sample(align_corners=False, padding_mode="zeros")``.
- :func:`upsample_masks`: segmentation logits to image size and thresholded, as
  ``core.inference.full_resolution_masks``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of a (H, W) image to ``size`` (h, w) → (h, w) float32."""
    a = np.ascontiguousarray(image, dtype=np.float32)
    if a.shape == tuple(size):
        return a.copy()
    return np.asarray(Image.fromarray(a, mode="F").resize((int(size[1]), int(size[0])), Image.BILINEAR), dtype=np.float32)


def standardise(images: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over each item's last three axes (B, C, h, w) → float32."""
    a = np.asarray(images, dtype=np.float32)
    axes = (-3, -2, -1)
    mean = a.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = a.std(axis=axes, keepdims=True, ddof=1, dtype=np.float64)
    return ((a - mean) / np.maximum(std, 1e-6)).astype(np.float32)


def warp(image: np.ndarray, matrices: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Sample ``image`` (Hi, Wi) through each matrix (B, 2, 3) (output px → input px) → (B, 1, h, w)
    float32, bilinear, 0 outside the image."""
    h, w = out_size
    hi, wi = image.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w, np.float32)], axis=-1)  # (h·w, 3)
    coords = grid @ np.asarray(matrices, dtype=np.float32).transpose(0, 2, 1)  # (B, h·w, 2)
    x, y = coords[..., 0], coords[..., 1]
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    padded = np.zeros((hi + 2, wi + 2), np.float32)  # a ring of zeros: neighbours outside read 0
    padded[1:-1, 1:-1] = image
    xi0, yi0 = np.clip(x0 + 1, 0, wi + 1), np.clip(y0 + 1, 0, hi + 1)
    xi1, yi1 = np.clip(x0 + 2, 0, wi + 1), np.clip(y0 + 2, 0, hi + 1)
    out = (padded[yi0, xi0] * (1 - fx) * (1 - fy) + padded[yi0, xi1] * fx * (1 - fy)
           + padded[yi1, xi0] * (1 - fx) * fy + padded[yi1, xi1] * fx * fy)
    return out.reshape(-1, 1, h, w).astype(np.float32)


def upsample_masks(seg_logits: np.ndarray, exclusive: bool, size: tuple[int, int]) -> np.ndarray:
    """(C[+1], h, w) logits at the network input → (C, H, W) bool at image size (probability > ½)."""
    logits = np.stack([resize_image(channel, size) for channel in np.asarray(seg_logits, np.float32)])
    if not exclusive:  # sigmoid(z) > ½ exactly where z > 0
        return logits > 0
    shifted = np.exp(logits - logits.max(axis=0, keepdims=True))
    return (shifted / shifted.sum(axis=0, keepdims=True))[1:] > 0.5
