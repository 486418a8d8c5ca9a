"""Heatmap targets and decoders (DESIGN.md 2.1 soft-argmax, 2.5 toolkit layer).

Conventions: points are ``(x, y)`` in heatmap pixels, origin at the centre of
the top-left pixel, so pixel ``(u, v)`` has centre ``(u, v)``. Targets are built
from non-quantised coordinates: a landmark at ``x = 10.3`` gives a target whose
mean is 10.3, not 10.

Shapes: ``points (..., K, 2)``, heatmaps ``(..., K, H, W)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "gaussian_heatmaps",
    "laplace_heatmaps",
    "target_distribution",
    "softmax_2d",
    "soft_argmax",
    "argmax_points",
    "local_soft_argmax",
    "blob_centroids",
    "decode",
    "confidence",
    "DECODERS",
    "bilinear_sample",
]

DECODERS = ("soft_argmax", "argmax", "local_soft_argmax", "blob")


def _grid(height: int, width: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(height, dtype=like.dtype, device=like.device)
    xs = torch.arange(width, dtype=like.dtype, device=like.device)
    return xs, ys


def _squared_distances(points: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-axis squared offsets, broadcastable to ``(..., K, H, W)``."""
    height, width = size
    xs, ys = _grid(height, width, points)
    dx2 = (xs.view(*([1] * (points.dim() - 1)), 1, width) - points[..., 0, None, None]) ** 2
    dy2 = (ys.view(*([1] * (points.dim() - 1)), height, 1) - points[..., 1, None, None]) ** 2
    return dx2, dy2


def gaussian_heatmaps(points: torch.Tensor, size: tuple[int, int], sigma: float | torch.Tensor) -> torch.Tensor:
    """Unnormalised Gaussians ``exp(-d² / 2σ²)`` with peak 1 (DESIGN.md 2.4 targets).

    points: (..., K, 2) float, heatmap pixels. size: (H, W). sigma: scalar or (K,)
    in heatmap pixels. Returns (..., K, H, W) float in [0, 1]. Points containing
    NaN give all-zero maps.
    """
    sigma = torch.as_tensor(sigma, dtype=points.dtype, device=points.device)
    if sigma.dim() == 1:
        sigma = sigma.view(-1, 1, 1)
    dx2, dy2 = _squared_distances(points, size)
    maps = torch.exp(-(dx2 + dy2) / (2.0 * sigma**2))
    return torch.nan_to_num(maps, nan=0.0)


def laplace_heatmaps(points: torch.Tensor, size: tuple[int, int], scale: float) -> torch.Tensor:
    """Laplace-shaped targets ``exp(-d / b)`` with peak 1 (DESIGN.md 2.2, 2.5).

    Heavier tails than a Gaussian of the same width, which the spatial-
    configuration paper uses for its regression targets.
    """
    dx2, dy2 = _squared_distances(points, size)
    maps = torch.exp(-torch.sqrt(dx2 + dy2 + 1e-12) / scale)
    return torch.nan_to_num(maps, nan=0.0)


def target_distribution(points: torch.Tensor, size: tuple[int, int], sigma: float | torch.Tensor) -> torch.Tensor:
    """Gaussian target normalised to sum 1 per map, for the cross-entropy of DESIGN.md 2.1.

    Maps of missing (NaN) points stay all-zero, so they add nothing to the loss.
    """
    maps = gaussian_heatmaps(points, size, sigma)
    total = maps.sum(dim=(-2, -1), keepdim=True)
    return maps / total.clamp_min(1e-12)


def softmax_2d(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Spatial softmax over the last two dims: P_k = softmax(H_k / T) (DESIGN.md 2.1)."""
    shape = logits.shape
    flat = (logits / temperature).reshape(*shape[:-2], -1)
    return torch.softmax(flat, dim=-1).reshape(shape)


def soft_argmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Expected position under P_k = softmax(H_k / T): x̂ = Σ P·u, ŷ = Σ P·v.

    Differentiable and vectorised; the softmax subtracts the maximum, so large
    logits cannot overflow. logits: (..., K, H, W) → (..., K, 2) heatmap pixels.
    """
    height, width = logits.shape[-2:]
    prob = softmax_2d(logits, temperature)
    xs, ys = _grid(height, width, prob)
    x = (prob.sum(dim=-2) * xs).sum(dim=-1)
    y = (prob.sum(dim=-1) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


def argmax_points(heatmaps: torch.Tensor) -> torch.Tensor:
    """Integer position of each map's maximum, (..., K, H, W) → (..., K, 2)."""
    width = heatmaps.shape[-1]
    flat = heatmaps.reshape(*heatmaps.shape[:-2], -1).argmax(dim=-1)
    return torch.stack([flat % width, torch.div(flat, width, rounding_mode="floor")], dim=-1).to(heatmaps.dtype)


def local_soft_argmax(logits: torch.Tensor, radius: int = 5, temperature: float = 1.0) -> torch.Tensor:
    """Soft-argmax restricted to a (2r+1)² window around the maximum (DESIGN.md 2.5).

    A global mean is pulled towards secondary modes; the local window keeps
    sub-pixel precision without that bias.
    """
    height, width = logits.shape[-2:]
    peak = argmax_points(logits)
    xs, ys = _grid(height, width, logits)
    inside_x = (xs.view(*([1] * (peak.dim() - 1)), width) - peak[..., 0, None]).abs() <= radius
    inside_y = (ys.view(*([1] * (peak.dim() - 1)), height) - peak[..., 1, None]).abs() <= radius
    window = inside_y[..., :, None] & inside_x[..., None, :]
    masked = torch.where(window, logits / temperature, torch.full_like(logits, float("-inf")))
    return soft_argmax(masked, 1.0)


def blob_centroids(heatmaps: torch.Tensor, threshold: float = 0.95) -> torch.Tensor:
    """Centroid of the largest blob above ``threshold`` (DESIGN.md 2.2, the SC paper's test-time decoder).

    Each map is first scaled to [0, 1] by its own minimum and maximum, so a
    regression heatmap with range [0, 1] is thresholded at 0.95 exactly as in
    the paper, and any other map (logits) at 95 % of its range. Blobs are
    8-connected; the centroid is unweighted. Not differentiable (inference
    only). heatmaps: (..., K, H, W) → (..., K, 2) heatmap pixels; a constant
    map gives the centroid of the whole map.
    """
    from scipy import ndimage

    maps = heatmaps.detach().cpu().double().numpy()
    flat = maps.reshape(-1, *maps.shape[-2:])
    out = np.zeros((flat.shape[0], 2))
    structure = np.ones((3, 3), dtype=bool)
    for i, m in enumerate(flat):
        low, high = np.nanmin(m), np.nanmax(m)
        scaled = (m - low) / (high - low) if high > low else np.ones_like(m)
        labels, n = ndimage.label(scaled >= threshold, structure=structure)
        sizes = np.bincount(labels.ravel())[1:]
        v, u = np.nonzero(labels == 1 + int(np.argmax(sizes)))
        out[i] = (u.mean(), v.mean())
    return torch.as_tensor(out.reshape(*maps.shape[:-2], 2), dtype=heatmaps.dtype, device=heatmaps.device)


def decode(logits: torch.Tensor, method: str = "soft_argmax", temperature: float = 1.0, radius: int = 5) -> torch.Tensor:
    """Decode heatmap logits with one of :data:`DECODERS`."""
    if method == "soft_argmax":
        return soft_argmax(logits, temperature)
    if method == "argmax":
        return argmax_points(logits)
    if method == "local_soft_argmax":
        return local_soft_argmax(logits, radius, temperature)
    if method == "blob":
        return blob_centroids(logits)
    raise ValueError(f"unknown decoder {method!r}; choose one of {', '.join(DECODERS)}")


def confidence(prob: torch.Tensor, points: torch.Tensor, radius: float) -> torch.Tensor:
    """Probability mass within ``radius`` heatmap pixels of each decoded point.

    prob: (..., K, H, W) spatial distributions (sum 1). points: (..., K, 2).
    Returns (..., K) in [0, 1]: 1 means the model put all its belief in a
    small disc around its answer; a flat or two-peaked heatmap scores low.
    """
    dx2, dy2 = _squared_distances(points, prob.shape[-2:])
    disc = (dx2 + dy2) <= radius**2
    return (prob * disc).sum(dim=(-2, -1)).clamp(0.0, 1.0)


def bilinear_sample(maps: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Sample ``maps (B, C, H, W)`` at ``points (B, K, 2)`` pixel coords → (B, K, C).

    Pixel centres sit at integer coordinates (align_corners=False convention
    converted explicitly), matching the rest of this module.
    """
    height, width = maps.shape[-2:]
    gx = (2.0 * points[..., 0] + 1.0) / width - 1.0
    gy = (2.0 * points[..., 1] + 1.0) / height - 1.0
    grid = torch.stack([gx, gy], dim=-1).unsqueeze(2)  # (B, K, 1, 2)
    sampled = F.grid_sample(maps, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return sampled.squeeze(-1).transpose(1, 2)
