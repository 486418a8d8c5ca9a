"""FARNet's Exponential Weighted Center loss (DESIGN.md 2.4).

EWC = mean over pixels of (y − ŷ)² · α^y with α = 40, y the unnormalised Gaussian
target exp(−d²/2σ²) ∈ [0, 1]: a pixel at a landmark centre weighs 40× a
background pixel, so the few foreground pixels are not drowned by the rest.
"""

from __future__ import annotations

import torch

EWC_ALPHA = 40.0


def ewc_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = EWC_ALPHA, valid: torch.Tensor | None = None) -> torch.Tensor:
    """pred, target (B, K, H, W) → mean of (target − pred)² · alpha**target over pixels.

    With ``valid (B, K)``, maps of missing landmarks are left out of the mean.
    """
    per_pixel = (target - pred) ** 2 * torch.pow(torch.as_tensor(alpha, dtype=target.dtype, device=target.device), target)
    if valid is None:
        return per_pixel.mean()
    per_map = per_pixel.flatten(2).mean(dim=-1)  # (B, K)
    return (per_map * valid).sum() / valid.sum().clamp_min(1.0)


def coarse_to_fine_ewc(
    outputs: dict[str, torch.Tensor], targets: tuple[torch.Tensor, torch.Tensor], valid: torch.Tensor | None = None, alpha: float = EWC_ALPHA
) -> torch.Tensor:
    """EWC at ½ (``outputs["coarse"]``) plus EWC at full (``outputs["logits"]``) resolution, same σ."""
    coarse, full = targets
    return ewc_loss(outputs["coarse"], coarse, alpha, valid) + ewc_loss(outputs["logits"], full, alpha, valid)
