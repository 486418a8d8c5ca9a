"""Geometric and intensity augmentation applied consistently to image, points and masks.

One affine matrix ``A`` (2×3, pixel coordinates, ADR 0001) maps each *output*
pixel to the *input* position it is sampled from; points follow with ``A⁻¹``
and masks are warped with the same ``A`` (nearest neighbour), so image, points
and masks can never disagree. Ranges follow DESIGN.md 2.1: rotation ±18°,
translation ±12 %, scale 0.88–1.15, brightness/contrast/gamma, occasional
blur and noise.
"""

from __future__ import annotations

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


