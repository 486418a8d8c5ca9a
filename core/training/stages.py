"""The two trainable stages of a landmark model, as seen by :func:`run_training`.

- :class:`GlobalStage`: the structure-aware U-Net + GNN refiner on the whole
  image at the input size (DESIGN.md 2.1 losses).
- :class:`PatchStage`: the local network on fine-scale patches around
  jittered ground truth (coarse-to-fine, DESIGN.md 2.5).

Validation MRE is in pixels of the original images, so both stages and every
model are compared on the same scale.
"""

from __future__ import annotations

import numpy as np
import torch

from core.heatmaps import decode, soft_argmax, target_distribution
from core.losses.structure import coordinate_l1, heatmap_cross_entropy, order_loss, symmetry_loss
from core.models import LandmarkNet, PatchNet
from core.schema import LandmarkSchema
from core.geometry import apply_affine
from core.losses.heatmap import heatmap_terms
from core.training.loop import TrainConfig
from core.geometry import from_scaled
from core.training.samplers import CachedImage, global_batch, patch_batch
from core.training.schedules import ramp_after_warmup, warmup_cosine


def _mre(pred: np.ndarray, gt: np.ndarray) -> float:
    err = np.linalg.norm(pred - gt, axis=-1)
    return float(np.nanmean(err))


class GlobalStage:
    def __init__(
        self,
        model: LandmarkNet,
        schema: LandmarkSchema,
        train: list[CachedImage],
        val: list[CachedImage],
        config: TrainConfig,
        device: torch.device,
    ) -> None:
        self.model, self.schema, self.train, self.val = model, schema, train, val
        self.net: torch.nn.Module = model  # the training forward (run_training wraps it for AMP/DDP)
        self.config, self.device = config, device
        self.input_size = tuple(model.config.input_size)

    def n_items(self) -> int:
        return len(self.train)

    def losses(self, out: dict[str, torch.Tensor], points: torch.Tensor, progress: float) -> dict[str, torch.Tensor]:
        """Every term of DESIGN.md 2.1's total loss, weights already applied."""
        cfg = self.config
        valid = torch.isfinite(points).all(dim=-1).float()
        sigma = warmup_cosine(progress, cfg.warmup, cfg.sigma[0], cfg.sigma[0], cfg.sigma[1])
        terms = heatmap_terms(self.model, out["logits"], points, valid, self.input_size, sigma, cfg)
        terms["soft_l1"] = cfg.w_soft_l1 * coordinate_l1(out["soft"], points, valid)
        terms.update(self.refined_terms(out["refined"], points, valid, progress))
        return terms

    def refined_terms(self, refined: torch.Tensor, points: torch.Tensor, valid: torch.Tensor, progress: float) -> dict[str, torch.Tensor]:
        """L1 of the GNN-refined points (with a refiner) and the symmetry and order losses on them."""
        cfg = self.config
        h, w = self.input_size
        terms = {}
        if self.model.refiner is not None:
            terms["refined_l1"] = cfg.w_refined_l1 * coordinate_l1(refined, points, valid)
        lam_sym = ramp_after_warmup(progress, cfg.warmup, cfg.lambda_sym)
        lam_ord = ramp_after_warmup(progress, cfg.warmup, cfg.lambda_ord)
        if lam_sym > 0 and self.schema.pairs:
            terms["symmetry"] = lam_sym * symmetry_loss(refined, self.schema.pairs, cfg.min_lateral * w)
        if lam_ord > 0 and len(self.schema.levels) > 1:
            terms["order"] = lam_ord * order_loss(refined, self.schema.levels, cfg.order_margin * h)
        return terms

    def step(self, indices: list[int], rng: np.random.Generator, progress: float) -> torch.Tensor:
        images, points = global_batch([self.train[i] for i in indices], self.input_size, rng, self.config.augment)
        out = self.net(images.to(self.device))
        return sum(self.losses(out, points.to(self.device), progress).values())

    def predict_points(self, items: list[CachedImage]) -> tuple[np.ndarray, np.ndarray]:
        """(soft-argmax, final) points (N, K, 2) in original-image pixels, no augmentation; final: the
        network's refined points, or ``config.val_decoder`` on its heatmaps."""
        soft, refined = [], []
        for item in items:
            images, _ = global_batch([item], self.input_size, np.random.default_rng(0), None)
            out = self.model(images.to(self.device))
            final = out["refined"]
            if self.config.val_decoder:
                final = decode(out["logits"], self.config.val_decoder, self.model.config.temperature)
            soft.append(from_scaled(out["soft"][0].cpu().numpy(), item.original_size, self.input_size))
            refined.append(from_scaled(final[0].cpu().numpy(), item.original_size, self.input_size))
        return np.stack(soft), np.stack(refined)

    def validate(self) -> float:
        _, refined = self.predict_points(self.val)
        gt = np.stack([item.sample.points for item in self.val])
        return _mre(refined, gt)


class PatchStage:
    def __init__(
        self,
        model: PatchNet,
        train: list[CachedImage],
        val: list[CachedImage],
        config: TrainConfig,
        device: torch.device,
    ) -> None:
        self.model, self.train, self.val = model, train, val
        self.net: torch.nn.Module = model  # the training forward (run_training wraps it for AMP/DDP)
        self.config, self.device = config, device
        self.patch = model.config.patch_size

    def n_items(self) -> int:
        return len(self.train)

    def step(self, indices: list[int], rng: np.random.Generator, progress: float) -> torch.Tensor:
        cfg = self.config
        k = self.model.config.n_landmarks
        parts = []
        for index in indices:
            subset = None
            if cfg.landmarks_per_step and cfg.landmarks_per_step < k:
                subset = rng.choice(k, size=cfg.landmarks_per_step, replace=False)
            parts.append(patch_batch(self.train[index], self.patch, rng, cfg.augment, cfg.jitter, subset)[:3])
        patches, ids, targets = (torch.cat(t) for t in zip(*parts))
        logits = self.net(patches.to(self.device), ids.to(self.device))  # (N, P, P)
        targets = targets.to(self.device)
        sigma = warmup_cosine(progress, cfg.warmup, cfg.sigma[0], cfg.sigma[0], cfg.sigma[1])
        target = target_distribution(targets, (self.patch, self.patch), sigma)
        valid = torch.ones(len(ids), device=self.device)
        ce = heatmap_cross_entropy(logits.unsqueeze(0), target.unsqueeze(0), valid.unsqueeze(0))
        points = soft_argmax(logits, self.model.config.temperature)
        return ce + cfg.w_soft_l1 * coordinate_l1(points, targets, valid)

    def validate(self) -> float:
        """MRE (original pixels) when each patch is centred at a fixed jitter from the truth."""
        errors = []
        for n, item in enumerate(self.val):
            rng = np.random.default_rng([1234, n])
            patches, ids, _, matrices = patch_batch(item, self.patch, rng, None, self.config.jitter)
            logits = self.model(patches.to(self.device), ids.to(self.device))
            local = soft_argmax(logits, self.model.config.temperature).cpu().numpy()
            fine_pts = np.stack([apply_affine(m, p) for m, p in zip(matrices, local)])
            pred = from_scaled(fine_pts, item.original_size, tuple(item.fine.shape[-2:]))
            errors.append(np.linalg.norm(pred - item.sample.points[ids.numpy()], axis=-1))
        return float(np.mean(np.concatenate(errors)))
