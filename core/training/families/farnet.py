"""The FARNet family (DESIGN.md 2.4): DenseNet-121 encoder, multi-scale feature aggregation,
feature refinement, regressed heatmaps trained with the EWC loss at ½ and full resolution.

Its heatmaps are regressed (they peak at ≈1), not logits of a distribution, so
retraining in a project uses the same EWC loss (:class:`FARNetStage`) with the
σ its recipe trains with: the U-Net's cross-entropy would train a different
quantity than the decoder reads.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from core.heatmaps import gaussian_heatmaps
from core.losses.farnet import coarse_to_fine_ewc
from core.models import FARNet, FARNetConfig
from core.models.densenet import load_backbone_weights
from core.schema import LandmarkSchema
from core.training.families.base import ModelFamily
from core.training.loop import TrainConfig
from core.training.recipes import Recipe
from core.training.schedules import warmup_cosine
from core.training.stages import GlobalStage


def build(recipe: Recipe, schema: LandmarkSchema) -> FARNet:
    """From ``recipe.model_options``: any :class:`FARNetConfig` field, and ``backbone_weights`` (a local
    DenseNet weights file; never downloaded)."""
    options = dict(recipe.model_options)
    weights = options.pop("backbone_weights", None)
    net = FARNet(FARNetConfig(schema.n_landmarks, recipe.input_size, **options))
    if weights:
        load_backbone_weights(net.backbone, weights)
    return net


def heatmap_sigma(input_size: tuple[int, int]) -> float:
    """The paper's fixed σ (10 px at its 800-px-high input), scaled to this input height."""
    return max(1.5, 10.0 * input_size[0] / 800.0)


class FARNetStage(GlobalStage):
    """DESIGN.md 2.4: EWC on unnormalised Gaussians at ½ and full resolution, same σ."""

    def losses(self, out: dict[str, torch.Tensor], points: torch.Tensor, progress: float) -> dict[str, torch.Tensor]:
        cfg = self.config
        valid = torch.isfinite(points).all(dim=-1).float()
        sigma = warmup_cosine(progress, cfg.warmup, cfg.sigma[0], cfg.sigma[0], cfg.sigma[1])
        h, w = self.input_size
        full = gaussian_heatmaps(points, (h, w), sigma)
        # Same σ in half-resolution pixels; pixel centres map as (p + 0.5)/2 − 0.5 (ADR 0001).
        coarse = gaussian_heatmaps(points * 0.5 - 0.25, tuple(out["coarse"].shape[-2:]), sigma)
        return {"ewc": coarse_to_fine_ewc(out, (coarse, full), valid, cfg.ewc_alpha)}


def farnet_recipe(recipe: Recipe, **options) -> Recipe:
    """DESIGN.md 2.4's recipe variant: FARNet (from scratch unless ``backbone_weights`` names a local
    file), EWC loss (α 40) with one fixed σ (:func:`heatmap_sigma`)."""
    sigma = heatmap_sigma(recipe.input_size)
    train = replace(recipe.global_train, ewc_alpha=40.0, sigma=(sigma, sigma))
    options = dict(recipe.model_options, **options)
    return replace(recipe, name=f"{recipe.name}-farnet", model="farnet", model_options=options, use_refiner=False,
                   structural=False, global_train=train)


def retrain_config(config: TrainConfig, net: FARNet) -> TrainConfig:
    """A project's settings with FARNet's loss: EWC α 40 and its fixed σ at the network's input size."""
    sigma = heatmap_sigma(tuple(net.config.input_size))
    return replace(config, ewc_alpha=40.0, sigma=(sigma, sigma))


FAMILY = ModelFamily(
    name="farnet",
    summary="DenseNet-121 encoder, multi-scale aggregation and refinement, EWC loss (DESIGN.md 2.4)",
    build=build,
    stage=FARNetStage,
    retrain_stage=FARNetStage,
    retraining="its own EWC loss and fixed σ on the corrected points",
    configurations={"farnet": ("FARNet (DenseNet-121, MSFA, FR) + EWC loss (DESIGN.md 2.4)", farnet_recipe)},
    retrain_config=retrain_config,
)
