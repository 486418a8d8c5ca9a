"""Losses of the structure-aware model (DESIGN.md 2.1).

All point tensors are ``(B, K, 2)`` pixels ``(x, y)`` of the network input;
``valid (B, K)`` is 1 where the ground truth exists. Pairs are (patient's
right, patient's left) index pairs, levels run top → bottom.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def heatmap_cross_entropy(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """−Σ_uv T_k(u,v) · log softmax(H_k)(u,v), averaged over valid landmarks.

    logits, target: (B, K, H, W); target maps sum to 1 (or 0 where missing).
    """
    log_prob = torch.log_softmax(logits.flatten(2), dim=-1)
    per_map = -(target.flatten(2) * log_prob).sum(dim=-1)  # (B, K)
    return (per_map * valid).sum() / valid.sum().clamp_min(1.0)


def coordinate_l1(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean |Δx| + |Δy| over valid landmarks (pixels)."""
    diff = (pred - torch.nan_to_num(target)).abs().sum(dim=-1)
    return (diff * valid).sum() / valid.sum().clamp_min(1.0)


def symmetry_loss(points: torch.Tensor, pairs: Sequence[tuple[int, int]], min_lateral: float) -> torch.Tensor:
    """L_sym = Σ_pairs |y_l − y_r| + max(0, d_lat − |x_l − x_r|), mean over the batch.

    Equal height for each left/right pair, and a minimum lateral spacing so a
    pair cannot collapse to the midline.
    """
    if not pairs:
        return points.new_zeros(())
    right = points[:, [p[0] for p in pairs]]
    left = points[:, [p[1] for p in pairs]]
    height = (left[..., 1] - right[..., 1]).abs()
    lateral = torch.relu(min_lateral - (left[..., 0] - right[..., 0]).abs())
    return (height + lateral).sum(dim=-1).mean()


def order_loss(points: torch.Tensor, levels: Sequence[Sequence[int]], margin: float) -> torch.Tensor:
    """L_ord = Σ_i max(0, ȳ_i − ȳ_{i+1} + δ) over consecutive levels (top → bottom).

    ȳ_i is the mean height of level i's landmarks (pair-averaged). With three
    levels this is exactly DESIGN.md's max(0, ȳ_top − ȳ_mid + δ) + max(0, ȳ_mid − ȳ_bot + δ).
    """
    if len(levels) < 2:
        return points.new_zeros(())
    means = torch.stack([points[:, list(level), 1].mean(dim=-1) for level in levels], dim=-1)  # (B, L)
    return torch.relu(means[:, :-1] - means[:, 1:] + margin).sum(dim=-1).mean()
