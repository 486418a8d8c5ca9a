"""Adaptive heatmap targets (DESIGN.md 2.5): an anisotropic Gaussian per landmark whose σ and
rotation are learned with the network, and the loss that keeps σ from growing without bound.

Target of landmark k at pixel p (heatmap pixels, (x, y), origin at the top-left
pixel centre as in ``core.heatmaps``)::

    g_k(p) = γ / (2π σ1 σ2) · exp(−½ (p − x_k)ᵀ Σ_k⁻¹ (p − x_k)),   Σ_k = R(θ_k) diag(σ1², σ2²) R(θ_k)ᵀ

Regression to a wide, low target is easier, so a plain ‖H − g‖² would drive σ
up; :func:`adaptive_heatmap_loss` adds ``α Σ_k σ1 σ2`` (Thaler et al. 2021, as in
landmarker's Gaussian-heatmap L2 loss, α = 5). Where the annotations of a
landmark are uncertain along one direction, the learned Σ stretches along it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.losses.spatial_configuration import heatmap_l2

__all__ = ["AdaptiveGaussian", "adaptive_heatmap_loss", "SIGMA_ALPHA"]

SIGMA_ALPHA = 5.0


class AdaptiveGaussian(nn.Module):
    """Learnable per-landmark (σ1, σ2, θ); ``forward(points (..., K, 2), size)`` → (..., K, H, W).

    σ is stored as its logarithm so it stays positive. Points with NaN give
    all-zero maps.
    """

    def __init__(self, n_landmarks: int, sigma: float = 3.0, gamma: float = 50.0) -> None:
        super().__init__()
        self.gamma = float(gamma)
        self.log_sigma = nn.Parameter(torch.full((n_landmarks, 2), math.log(sigma)))
        self.rotation = nn.Parameter(torch.zeros(n_landmarks))

    @property
    def sigmas(self) -> torch.Tensor:
        """(K, 2) σ1, σ2 in heatmap pixels."""
        return self.log_sigma.exp()

    def _rotated(self, diagonal: torch.Tensor) -> torch.Tensor:
        c, s = torch.cos(self.rotation), torch.sin(self.rotation)
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (K, 2, 2)
        return rot @ torch.diag_embed(diagonal) @ rot.transpose(-1, -2)

    def covariance(self) -> torch.Tensor:
        """(K, 2, 2) Σ_k = R diag(σ1², σ2²) Rᵀ in heatmap px²."""
        return self._rotated(self.sigmas**2)

    def forward(self, points: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        height, width = size
        xs = torch.arange(width, dtype=points.dtype, device=points.device)
        ys = torch.arange(height, dtype=points.dtype, device=points.device)
        dx = xs.view(1, width) - points[..., 0, None, None]  # (..., K, 1, W)
        dy = ys.view(height, 1) - points[..., 1, None, None]  # (..., K, H, 1)
        inv = self._rotated(self.sigmas**-2)  # Σ⁻¹ = R diag(σ⁻²) Rᵀ, no matrix inversion
        a, b, d = (inv[:, i, j].view(-1, 1, 1) for i, j in ((0, 0), (0, 1), (1, 1)))
        quad = a * dx**2 + 2.0 * b * dx * dy + d * dy**2
        peak = (self.gamma / (2.0 * math.pi * self.sigmas.prod(dim=-1))).view(-1, 1, 1)
        return torch.nan_to_num(peak * torch.exp(-0.5 * quad), nan=0.0)


def adaptive_heatmap_loss(
    heatmaps: torch.Tensor, targets: torch.Tensor, sigmas: torch.Tensor, valid: torch.Tensor, alpha: float = SIGMA_ALPHA
) -> dict[str, torch.Tensor]:
    """``heatmap_l2`` (‖H − g‖², per image) and ``sigma_reg`` (α Σ_k σ1 σ2); sigmas (K, 2)."""
    return {"heatmap_l2": heatmap_l2(heatmaps, targets, valid), "sigma_reg": alpha * sigmas.prod(dim=-1).sum()}
