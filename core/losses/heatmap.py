"""The heatmap term of the global stage's loss, as a recipe selects it (DESIGN.md 2.1, 2.2, 2.5).

Two options, set per recipe:

- ``TrainConfig.loss``: ``"ce"`` (cross-entropy between the spatial softmax and
  the normalised target, DESIGN.md 2.1), ``"l2"`` (regression ‖H − O‖²) or
  ``"sc"`` (regression plus the spatial-configuration term γ‖C − C_gt‖²,
  DESIGN.md 2.2).
- ``LandmarkNetConfig.heatmap`` (the model's, because adaptive targets have
  learned parameters that ship with the weights): ``"gaussian"``, ``"laplace"``
  (the SC paper's targets, scale = the scheduled σ) or ``"adaptive"``
  (learned σ and rotation, with the σ regulariser; DESIGN.md 2.5).

Cross-entropy needs a fixed target: an adaptive one would shrink to a point.

Regression targets are scaled to peak ``s = model.config.target_scale`` (100 in
the SC and adaptive recipes: with peak 1 the heatmaps formed too slowly, issue
21), but every term is the paper's loss on heatmaps in the paper's units,
multiplied by s²: ‖H − sO‖² = s²‖H/s − O‖², and so the spatial-configuration
term is s²γ‖C(H/s) − C(O)‖² (its softmax β = 10 meant for maps in [0, 1], not
a softmax saturated by peaks of 100) and the σ regulariser s²α Σσ1σ2 (else the
equilibrium σ, where ∂‖g‖²/∂σ balances α, grows with √s: 3 → 5 px in 18 epochs
and rising).
"""

from __future__ import annotations

import torch

from core.heatmaps import gaussian_heatmaps, laplace_heatmaps
from core.losses.structure import heatmap_cross_entropy
from core.models.adaptive_heatmap import adaptive_heatmap_loss
from core.losses.spatial_configuration import configuration_loss, heatmap_l2

LOSSES = ("ce", "l2", "sc")
HEATMAPS = ("gaussian", "laplace", "adaptive")


def check_options(loss: str, heatmap: str) -> None:
    """ValueError (one line) for an unknown or impossible combination."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if heatmap not in HEATMAPS:
        raise ValueError(f"unknown heatmap {heatmap!r}; choose one of {', '.join(HEATMAPS)}")
    if loss == "ce" and heatmap == "adaptive":
        raise ValueError("adaptive heatmaps need a regression loss (l2 or sc): cross-entropy would shrink σ to zero")


def heatmap_terms(model: torch.nn.Module, logits: torch.Tensor, points: torch.Tensor, valid: torch.Tensor,
                  size: tuple[int, int], sigma: float, config) -> dict[str, torch.Tensor]:
    """Named loss terms (weights applied) for logits (B, K, H, W) against points (B, K, 2) input px.

    ``config`` is the stage's ``TrainConfig`` (``loss``, ``sc_gamma``, ``sc_beta``, ``sigma_alpha``).
    """
    heatmap = getattr(model.config, "heatmap", "gaussian")
    check_options(config.loss, heatmap)
    scale = getattr(model.config, "target_scale", 1.0)
    if heatmap == "adaptive":
        generator = model.target_generator
        target = generator(points, size)
        terms = adaptive_heatmap_loss(logits, target, generator.sigmas, valid, config.sigma_alpha * scale**2)
    else:
        target = laplace_heatmaps(points, size, sigma) if heatmap == "laplace" else gaussian_heatmaps(points, size, sigma)
        if config.loss == "ce":  # the target as a distribution (sum 1), as core.heatmaps.target_distribution
            distribution = target / target.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
            return {"heatmap_ce": heatmap_cross_entropy(logits, distribution, valid)}
        target = target * scale  # regression: peak = the scale
        terms = {"heatmap_l2": heatmap_l2(logits, target, valid)}
    if config.loss == "sc":
        unscaled = configuration_loss(logits / scale, target / scale, valid, config.sc_beta)
        terms["sc_correlation"] = config.sc_gamma * scale**2 * unscaled
    return terms
