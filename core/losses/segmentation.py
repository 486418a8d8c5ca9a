"""Losses of the segmentation-informed model (DESIGN.md 2.3).

Shapes: heatmap logits and targets ``(B, K, H, W)``; segmentation logits
``(B, C, H, W)`` (sigmoid per class) or ``(B, C + 1, H, W)`` (softmax, background
first, ``exclusive``); mask targets ``(B, C, H, W)`` in [0, 1]; ``valid (B, K)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def heatmap_kl(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """KL(T_k ‖ softmax(H_k)) = Σ T log T − T log P over pixels, averaged over valid landmarks.

    ``target`` maps sum to 1 (all-zero where the landmark is missing).
    """
    log_prob = torch.log_softmax(logits.flatten(2), dim=-1)
    t = target.flatten(2)
    per_map = (torch.xlogy(t, t) - t * log_prob).sum(dim=-1)  # (B, K)
    return (per_map * valid).sum() / valid.sum().clamp_min(1.0)


def soft_dice(prob: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 − mean over (batch, class) of (2|P∩T| + ε) / (|P| + |T| + ε); prob, target (B, C, H, W)."""
    inter = (prob * target).sum(dim=(-2, -1))
    total = prob.sum(dim=(-2, -1)) + target.sum(dim=(-2, -1))
    return 1.0 - ((2.0 * inter + eps) / (total + eps)).mean()


def segmentation_loss(seg_logits: torch.Tensor, masks: torch.Tensor, exclusive: bool = False) -> torch.Tensor:
    """Dice + cross-entropy (DESIGN.md 2.3).

    Overlapping structures (``exclusive=False``): per-class sigmoid, binary CE.
    Disjoint classes (``exclusive=True``): softmax over background + C classes,
    categorical CE against (1 − Σ masks, masks).
    """
    if exclusive:
        background = (1.0 - masks.sum(dim=1, keepdim=True)).clamp_min(0.0)
        target = torch.cat([background, masks], dim=1)
        log_prob = torch.log_softmax(seg_logits, dim=1)
        ce = -(target * log_prob).sum(dim=1).mean()
        return soft_dice(log_prob.exp()[:, 1:], masks) + ce
    ce = F.binary_cross_entropy_with_logits(seg_logits, masks)
    return soft_dice(torch.sigmoid(seg_logits), masks) + ce


def structure_mass(prob: torch.Tensor, mask_prob: torch.Tensor, landmark_classes: Sequence[int | None]) -> torch.Tensor:
    """v̂_k = Σ_uv P_k(u, v) · S_c(k)(u, v): landmark k's probability mass inside its own structure.

    prob (B, K, H, W) spatial distributions; mask_prob (B, C, H, W) in [0, 1].
    Returns (B, K); NaN for landmarks without a class.
    """
    out = prob.new_full(prob.shape[:2], float("nan"))
    for k, c in enumerate(landmark_classes):
        if c is not None:
            out[:, k] = (prob[:, k] * mask_prob[:, c]).sum(dim=(-2, -1))
    return out


def anatomical_consistency(
    prob: torch.Tensor,
    mask_prob: torch.Tensor,
    landmark_classes: Sequence[int | None],
    target: torch.Tensor,
    absent_weight: float = 2.0,
) -> torch.Tensor:
    """Weighted MAE between v̂_k (:func:`structure_mass`) and the target visibility (B, K).

    ``target`` is the paper's v_k ∈ {0, 1} (1 = landmark present; weight
    ``absent_weight`` where 0) or any soft target in [0, 1]. Landmarks without a
    class, or with a NaN target, are left out. Gradients reach both the
    heatmaps and the segmentation.
    """
    v_hat = structure_mass(prob, mask_prob, landmark_classes)
    use = torch.isfinite(v_hat) & torch.isfinite(target)
    if not use.any():
        return prob.new_zeros(())
    t = torch.nan_to_num(target)
    weight = torch.where(t <= 0.0, torch.full_like(t, absent_weight), torch.ones_like(t)) * use
    return (weight * (torch.nan_to_num(v_hat) - t).abs()).sum() / use.sum()
