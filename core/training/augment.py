"""Geometric and intensity augmentation applied consistently to image, points and masks.

One affine matrix ``A`` (2×3, pixel coordinates, ADR 0001) maps each *output*
pixel to the *input* position it is sampled from; points follow with ``A⁻¹``
and masks are warped with the same ``A`` (nearest neighbour), so image, points
and masks can never disagree. Ranges follow DESIGN.md 2.1: rotation ±18°,
translation ±12 %, scale 0.88–1.15, brightness/contrast/gamma, occasional
blur and noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    rotation_deg: float = 18.0
    translation: float = 0.12  # fraction of the output size
    scale: tuple[float, float] = (0.88, 1.15)
    gamma: tuple[float, float] = (0.7, 1.4)
    contrast: tuple[float, float] = (0.8, 1.25)
    brightness: float = 0.1
    blur_p: float = 0.15
    noise_p: float = 0.2
    noise_std: float = 0.03

    def to_dict(self) -> dict:
        return asdict(self)


NO_AUGMENT = AugmentConfig(0.0, 0.0, (1.0, 1.0), (1.0, 1.0), (1.0, 1.0), 0.0, 0.0, 0.0, 0.0)


def affine_in_from_out(
    out_size: tuple[int, int],
    center_in: tuple[float, float],
    pixel_ratio: tuple[float, float] = (1.0, 1.0),
    angle_deg: float = 0.0,
    zoom: float = 1.0,
    shift_in: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """2×3 matrix mapping output pixels (x, y) to input pixels.

    The output centre lands on ``center_in + shift_in``; one output pixel spans
    ``pixel_ratio / zoom`` input pixels, rotated by ``angle_deg``. With no
    augmentation, ``pixel_ratio = in_size / out_size`` and ``center_in`` the
    input centre, this is the plain resize ``x_in = (x_out + 0.5)·r − 0.5``.
    """
    h, w = out_size
    c_out = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    theta = math.radians(angle_deg)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    linear = np.diag(pixel_ratio) @ rot / zoom
    offset = np.asarray(center_in, dtype=float) + np.asarray(shift_in, dtype=float) - linear @ c_out
    return np.hstack([linear, offset[:, None]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """points (..., 2) → (..., 2); NaN stays NaN."""
    return points @ matrix[:, :2].T + matrix[:, 2]


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


def random_geometry(rng: np.random.Generator, cfg: AugmentConfig) -> tuple[float, float, tuple[float, float]]:
    """(angle_deg, zoom, shift as a fraction of output size)."""
    angle = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)
    zoom = rng.uniform(*cfg.scale)
    shift = tuple(rng.uniform(-cfg.translation, cfg.translation, size=2))
    return angle, zoom, shift  # type: ignore[return-value]


def augment_intensity(images: torch.Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """Gamma, contrast, brightness, blur and noise on images in [0, 1], (B, 1, h, w)."""
    out = images.clamp(0.0, 1.0)
    if cfg.gamma != (1.0, 1.0):
        out = out ** rng.uniform(*cfg.gamma)
    if cfg.contrast != (1.0, 1.0) or cfg.brightness:
        mean = out.mean()
        out = (out - mean) * rng.uniform(*cfg.contrast) + mean + rng.uniform(-cfg.brightness, cfg.brightness)
    if rng.random() < cfg.blur_p:
        sigma = rng.uniform(0.5, 1.2)
        radius = 2
        k = torch.exp(-(torch.arange(-radius, radius + 1, dtype=out.dtype) ** 2) / (2 * sigma**2))
        k = k / k.sum()
        out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
        out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
    if rng.random() < cfg.noise_p:
        out = out + torch.randn_like(out) * cfg.noise_std
    return out


def standardise(images: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per image (B, C, h, w): the network input.

    Standardising each input makes DICOM windows, PNG contrast and
    brightness/contrast augmentation irrelevant to the network.
    """
    mean = images.mean(dim=(-3, -2, -1), keepdim=True)
    std = images.std(dim=(-3, -2, -1), keepdim=True).clamp_min(1e-6)
    return (images - mean) / std
