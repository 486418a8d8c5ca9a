"""Spatial-configuration loss (DESIGN.md 2.2): heatmap regression plus a penalty on how the
landmarks are arranged relative to each other.

1. Each heatmap becomes a spatial distribution ``s_k = softmax(β·H_k)`` (β = 10).
2. Its embedding ``e_k = Σ_uv s_k(u, v) · f(u, v)`` averages d = 4 coordinate maps
   (:func:`coordinate_maps`: Cartesian x, y and polar radius, angle about the
   image centre, each instance-normalised without learnable parameters), so
   ``e`` is (K, d).
3. The correlation map ``C = e eᵀ`` (K, K) describes the configuration; the loss
   is ``‖H − O‖² + γ‖C − C_gt‖²`` (γ = 1e-4), where ``O`` are the targets and
   ``C_gt`` comes from the targets through the same two steps.

The loss adds no parameters. Sums run over pixels and landmark pairs and are
averaged over the batch (the paper's sums of squares, per image). Missing
landmarks (``valid`` 0) leave their heatmap and their rows and columns of C out.
Shapes: heatmaps and targets (B, K, H, W), valid (B, K), embeddings (B, K, d).
"""

from __future__ import annotations

import torch

from core.heatmaps import softmax_2d

__all__ = ["coordinate_maps", "sc_embeddings", "correlation_map", "configuration_loss", "spatial_configuration_loss", "heatmap_l2"]

SC_BETA = 10.0
SC_GAMMA = 1e-4


def _instance_norm(maps: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit (population) standard deviation over the pixels of each map; no parameters."""
    mean = maps.mean(dim=(-2, -1), keepdim=True)
    std = maps.std(dim=(-2, -1), keepdim=True, unbiased=False)
    return (maps - mean) / std.clamp_min(1e-12)


def coordinate_maps(size: tuple[int, int], dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """(4, H, W): instance-normalised x, y, radius and angle about the image centre.

    The centre is ``((W − 1)/2, (H − 1)/2)`` in pixel-centre coordinates (the
    module convention of ``core.heatmaps``); the angle is ``atan2(y − cy, x − cx)``.
    """
    height, width = size
    ys = torch.arange(height, dtype=dtype, device=device).view(height, 1).expand(height, width)
    xs = torch.arange(width, dtype=dtype, device=device).view(1, width).expand(height, width)
    dx, dy = xs - (width - 1) / 2.0, ys - (height - 1) / 2.0
    maps = torch.stack([xs, ys, torch.sqrt(dx**2 + dy**2), torch.atan2(dy, dx)])
    return _instance_norm(maps)


def sc_embeddings(heatmaps: torch.Tensor, beta: float = SC_BETA, maps: torch.Tensor | None = None) -> torch.Tensor:
    """e_k = Σ softmax(β·H_k) · f: (B, K, H, W) → (B, K, d)."""
    if maps is None:
        maps = coordinate_maps(tuple(heatmaps.shape[-2:]), heatmaps.dtype, heatmaps.device)
    prob = softmax_2d(heatmaps, 1.0 / beta)
    return torch.einsum("bkhw,dhw->bkd", prob, maps)


def correlation_map(embeddings: torch.Tensor) -> torch.Tensor:
    """C = e eᵀ: (B, K, d) → (B, K, K)."""
    return embeddings @ embeddings.transpose(-1, -2)


def heatmap_l2(heatmaps: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """‖H − O‖² over the pixels of valid landmarks, averaged over the batch."""
    per_map = ((heatmaps - targets) ** 2).flatten(2).sum(dim=-1)  # (B, K)
    return (per_map * valid).sum() / heatmaps.shape[0]


def configuration_loss(heatmaps: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, beta: float = SC_BETA) -> torch.Tensor:
    """‖C_pred − C_gt‖² over pairs of valid landmarks, averaged over the batch (unweighted)."""
    maps = coordinate_maps(tuple(heatmaps.shape[-2:]), heatmaps.dtype, heatmaps.device)
    c_pred = correlation_map(sc_embeddings(heatmaps, beta, maps))
    c_gt = correlation_map(sc_embeddings(targets, beta, maps))
    pair_valid = valid[:, :, None] * valid[:, None, :]
    return (((c_pred - c_gt) ** 2) * pair_valid).sum() / heatmaps.shape[0]


def spatial_configuration_loss(
    heatmaps: torch.Tensor,
    targets: torch.Tensor,
    valid: torch.Tensor,
    gamma: float = SC_GAMMA,
    beta: float = SC_BETA,
) -> dict[str, torch.Tensor]:
    """The two terms of DESIGN.md 2.2's loss, weights applied: ``heatmap_l2`` and ``sc_correlation``."""
    return {"heatmap_l2": heatmap_l2(heatmaps, targets, valid), "sc_correlation": gamma * configuration_loss(heatmaps, targets, valid, beta)}
