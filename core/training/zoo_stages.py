"""Global stages of the model zoo's other networks, trained by the same loop.

A recipe's ``model`` picks the global network (DESIGN.md 2.1 ``unet``, 2.3
``segnet``, 2.4 ``farnet``); :func:`build_zoo_model` builds it and
:func:`global_stage_class` gives the stage that knows its losses. Batching,
validation (MRE in original pixels) and checkpointing are
:class:`~core.training.stages.GlobalStage`'s, so every model is trained and
compared the same way.
"""

from __future__ import annotations

import numpy as np
import torch

from core.heatmaps import gaussian_heatmaps, target_distribution
from core.losses.structure import coordinate_l1
from core.losses.farnet import coarse_to_fine_ewc
from core.losses.segmentation import anatomical_consistency, heatmap_kl, segmentation_loss, structure_mass
from core.models import FARNet, FARNetConfig, SegNet, SegNetConfig
from core.models.densenet import load_backbone_weights
from core.models.segnet import mask_probabilities
from core.schema import LandmarkSchema
from core.training.samplers import global_batch
from core.training.schedules import warmup_cosine
from core.training.stages import GlobalStage

MODEL_KINDS = ("unet", "segnet", "farnet")
VIS_TARGETS = ("present", "target_mass")


def segmentation_classes(schema: LandmarkSchema, names: list[str] | None) -> tuple[list[str], list[int], list[int | None]]:
    """(class names, mask bits, per-landmark class index into them) for a segmentation model.

    ``names`` picks and orders the schema's classes (default: all); a landmark
    whose class is not picked has None.
    """
    by_name = {c.name: c for c in schema.segmentation_classes}
    names = list(names) if names else list(by_name)
    unknown = [n for n in names if n not in by_name]
    if unknown or not names:
        raise ValueError(f"schema {schema.name!r} has no segmentation class {', '.join(unknown) or '(none defined)'}")
    landmark_classes = []
    for c in schema.landmark_classes:
        name = schema.segmentation_classes[c].name if c is not None else None
        landmark_classes.append(names.index(name) if name in names else None)
    return names, [by_name[n].bit for n in names], landmark_classes


def build_zoo_model(
    kind: str, schema: LandmarkSchema, input_size: tuple[int, int], width: int, depth: int, options: dict, refiner: dict | None = None
) -> torch.nn.Module:
    """The global network of ``kind`` ("segnet" or "farnet") from a recipe's ``model_options``.

    segnet options: ``classes`` (names), ``exclusive``; ``refiner`` (the recipe's
    ``use_refiner``, ``refiner_noise``, ``refiner_detach``) adds the GNN refiner
    with the schema's graph. farnet options: any
    :class:`FARNetConfig` field, and ``backbone_weights`` (a local DenseNet
    weights file; never downloaded).
    """
    options = dict(options)
    if kind == "segnet":
        names, _, landmark_classes = segmentation_classes(schema, options.pop("classes", None))
        if refiner and refiner.get("use_refiner"):
            options.update(refiner, adjacency=schema.normalized_adjacency().tolist())
        return SegNet(SegNetConfig(schema.n_landmarks, input_size, names, landmark_classes, width=width, depth=depth, **options))
    if kind == "farnet":
        weights = options.pop("backbone_weights", None)
        net = FARNet(FARNetConfig(schema.n_landmarks, input_size, **options))
        if weights:
            load_backbone_weights(net.backbone, weights)
        return net
    raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(MODEL_KINDS)}")


class SegStage(GlobalStage):
    """DESIGN.md 2.3: w_KL·KL(heatmaps) + w_dice·(Dice + CE)(masks) + w_vis·consistency."""

    def losses(self, out: dict[str, torch.Tensor], points: torch.Tensor, masks: torch.Tensor, progress: float) -> dict[str, torch.Tensor]:
        cfg, config = self.config, self.model.config
        if cfg.vis_target not in VIS_TARGETS:
            raise ValueError(f"unknown vis_target {cfg.vis_target!r}; choose one of {', '.join(VIS_TARGETS)}")
        valid = torch.isfinite(points).all(dim=-1).float()
        sigma = warmup_cosine(progress, cfg.warmup, cfg.sigma[0], cfg.sigma[0], cfg.sigma[1])
        target = target_distribution(points, self.input_size, sigma)
        mask_prob = mask_probabilities(out["seg_logits"], config.exclusive)
        if cfg.vis_target == "present":
            vis = valid
        else:
            vis = structure_mass(target, masks, config.landmark_classes)
        terms = {
            "kl": cfg.w_kl * heatmap_kl(out["logits"], target, valid),
            "segmentation": cfg.w_dice * segmentation_loss(out["seg_logits"], masks, config.exclusive),
            "consistency": cfg.w_vis * anatomical_consistency(out["prob"], mask_prob, config.landmark_classes, vis),
        }
        if cfg.w_soft_l1:  # not in DESIGN.md 2.3: off in the recipe, available as an option
            terms["soft_l1"] = cfg.w_soft_l1 * coordinate_l1(out["soft"], points, valid)
        if self.model.refiner is not None:  # the GNN and its structural losses, as in the structure-aware model
            terms.update(self.refined_terms(out["refined"], points, valid, progress))
        return terms

    def step(self, indices: list[int], rng: np.random.Generator, progress: float) -> torch.Tensor:
        items = [self.train[i] for i in indices]
        images, points, masks = global_batch(items, self.input_size, rng, self.config.augment, with_masks=True)
        out = self.net(images.to(self.device))
        return sum(self.losses(out, points.to(self.device), masks.to(self.device), progress).values())


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


def global_stage_class(kind: str) -> type[GlobalStage]:
    return {"unet": GlobalStage, "segnet": SegStage, "farnet": FARNetStage}[kind]
