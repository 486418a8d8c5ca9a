"""The structure-aware U-Net family (DESIGN.md 2.1): U-Net heatmaps → soft-argmax → GNN refiner.

The loss and target variants of the same network (the spatial-configuration
loss of DESIGN.md 2.2, adaptive heatmaps of 2.5) are recipe options
(``TrainConfig.loss``, ``Recipe.heatmap``), so they are configurations of this
family rather than families of their own.
"""

from __future__ import annotations

import math
from dataclasses import replace

from core.models import LandmarkNet, LandmarkNetConfig
from core.schema import LandmarkSchema
from core.training.families.base import ModelFamily, renamed
from core.training.recipes import Recipe
from core.training.stages import GlobalStage


def build(recipe: Recipe, schema: LandmarkSchema) -> LandmarkNet:
    """The recipe's landmark network; the refiner (and its graph) only where the recipe has one."""
    refiner = recipe.use_refiner
    return LandmarkNet(LandmarkNetConfig(
        n_landmarks=schema.n_landmarks,
        input_size=recipe.input_size,
        width=recipe.width,
        depth=recipe.depth,
        use_refiner=refiner,
        refiner_noise=recipe.refiner_noise if refiner else 0.0,
        refiner_detach=recipe.refiner_detach and refiner,
        adjacency=schema.normalized_adjacency().tolist() if refiner else [],
        temperature=recipe.temperature,
        heatmap=recipe.heatmap,
        heatmap_sigma=recipe.global_train.sigma[0],
        target_scale=recipe.target_scale,
        heatmap_gamma=_adaptive_gamma(recipe),
    ))


def _adaptive_gamma(recipe: Recipe) -> float:
    """γ of adaptive targets (γ / 2πσ1σ2 at the peak) so that they start at ``recipe.target_scale``'s
    peak; 50 (the earlier default, peak ≈ 0.9 at σ 3) for a recipe that sets no scale."""
    if recipe.target_scale == 1.0:
        return 50.0
    sigma = recipe.global_train.sigma[0]
    return recipe.target_scale * 2.0 * math.pi * sigma * sigma


def _no_gnn(r: Recipe) -> Recipe:
    return renamed(r, "-nognn", use_refiner=False, global_train=replace(r.global_train, w_refined_l1=0.0))


def _no_structural(r: Recipe) -> Recipe:
    return renamed(r, "-gnn", structural=False, global_train=replace(r.global_train, lambda_sym=0.0, lambda_ord=0.0))


FAMILY = ModelFamily(
    name="unet",
    summary="U-Net heatmaps, soft-argmax points and the GNN refiner with symmetry and order losses (DESIGN.md 2.1)",
    build=build,
    stage=GlobalStage,
    retrain_stage=GlobalStage,
    retraining="every loss of the recipe, on the corrected points",
    configurations={
        "unet": ("plain U-Net (soft-argmax, no GNN, no structural losses)", lambda r: r.ablation()),
        "structure-aware": ("U-Net + GNN refiner + symmetry/order losses (DESIGN.md 2.1)", lambda r: r),
        "structural-no-gnn": ("U-Net + symmetry/order losses, no GNN", _no_gnn),
        "gnn-no-structural": ("U-Net + GNN refiner, no structural losses", _no_structural),
        "sc": ("plain U-Net + spatial-configuration loss (DESIGN.md 2.2)", lambda r: r.ablation().spatial_configuration()),
        "adaptive": ("plain U-Net + adaptive heatmaps (learned σ and rotation, DESIGN.md 2.5)", lambda r: r.ablation().adaptive()),
    },
)
