"""GNN refiner of DESIGN.md 2.1.

Node k = [decoder feature F sampled bilinearly at the soft-argmax point,
normalised coordinates (2-d), heatmap confidence at that point (1-d)]. Two graph
convolutions ``relu(Â X W)`` to 128-d embeddings, then a linear layer regresses
an offset Δ_k; refined p_k = p̂_k + Δ_k. Â = D^-1/2 (A + I) D^-1/2 comes from the
landmark schema's graph (left–right pairs, same-side chains, cross links).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.heatmaps import bilinear_sample


class GraphConv(nn.Module):
    """One graph convolution ``Â X W`` (Kipf & Welling form)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(c_in, c_out)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        return adjacency @ self.linear(x)


class GraphRefiner(nn.Module):
    """(features, points, prob) → offsets, all in input-image pixels.

    features: (B, C, H, W); points: (B, K, 2) soft-argmax (x, y); prob: (B, K, H, W)
    spatial distributions. Returns refined points (B, K, 2). The offset head starts
    at zero, so an untrained refiner returns the soft-argmax points unchanged.

    ``pinned`` (B, K) bool marks nodes a person has placed (interactive re-prediction,
    ``core.repredict``): their confidence input is 1 whatever the heatmap says there,
    and their output stays exactly at the given point.
    """

    def __init__(self, feature_channels: int, normalized_adjacency: np.ndarray, hidden: int = 128) -> None:
        super().__init__()
        adj = torch.as_tensor(np.asarray(normalized_adjacency, dtype=np.float32))
        self.register_buffer("adjacency", adj, persistent=True)
        self.gc1 = GraphConv(feature_channels + 3, hidden)
        self.gc2 = GraphConv(hidden, hidden)
        self.offset = nn.Linear(hidden, 2)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)

    def forward(
        self, features: torch.Tensor, points: torch.Tensor, prob: torch.Tensor, pinned: torch.Tensor | None = None
    ) -> torch.Tensor:
        height, width = features.shape[-2:]
        scale = points.new_tensor([width - 1, height - 1])
        coords = points / scale * 2.0 - 1.0  # [-1, 1]
        sampled = bilinear_sample(features, points)  # (B, K, C)
        # Confidence: P_k at the point relative to the map's peak, in [0, 1].
        peak = prob.flatten(2).amax(dim=-1).clamp_min(1e-12)
        # Each map at its own point: the diagonal of the (B, K, K) samples, taken with an identity
        # mask (exact: one term per row) because graph compilers (OpenVINO) have no diagonal op.
        eye = torch.eye(prob.shape[1], dtype=prob.dtype, device=prob.device)
        at_point = (bilinear_sample(prob, points) * eye).sum(dim=-1)  # (B, K)
        conf = (at_point / peak).unsqueeze(-1)
        if pinned is not None:
            conf = torch.where(pinned.unsqueeze(-1), torch.ones_like(conf), conf)
        x = torch.cat([sampled, coords, conf], dim=-1)
        x = torch.relu(self.gc1(x, self.adjacency))
        x = torch.relu(self.gc2(x, self.adjacency))
        delta = self.offset(x)  # normalised units
        refined = points + delta * scale / 2.0
        if pinned is not None:
            refined = torch.where(pinned.unsqueeze(-1), points, refined)
        return refined

    def refine_soft_argmax(self, features: torch.Tensor, soft: torch.Tensor, prob: torch.Tensor,
                           noise: float = 0.0, detach: bool = False) -> torch.Tensor:
        """The refined points of a network's forward pass, with its two training options.

        ``noise``: Gaussian jitter (input px) on the soft-argmax points while training, so the
        refiner learns to correct offsets rather than echo a network that fits its training set;
        ``detach``: stop the refiner's gradients at the network that made ``features`` and ``prob``.
        """
        start = soft
        if self.training and noise > 0:
            start = soft + torch.randn_like(soft) * noise
        if detach:
            features, start, prob = features.detach(), start.detach(), prob.detach()
        return self(features, start, prob)

