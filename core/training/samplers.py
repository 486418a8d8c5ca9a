"""Turn dataset samples into network batches for both stages.

Images are decoded once through :mod:`core.imaging` (so training sees exactly
what inference sees), windowed to [0, 1] and kept in memory at the two scales
the model uses: the global stage's input size and the patch stage's fine grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.imaging import load_image
from core.geometry import affine_in_from_out, apply_affine, fine_grid, invert_affine, patch_matrices, to_scaled
from core.resampling import cut_patches, resize_image, standardise, warp
from core.training.augment import AugmentConfig, augment_intensity, random_geometry
from core.training.datasets import DatasetError, Sample
from core.training.masks import load_class_masks, resize_masks


def physical_fine_mm(samples: list[Sample], fine_scale: float) -> float | None:
    """``fine_mm_per_px`` for a patch network trained on ``samples`` at ``fine_scale``: their median
    spacing over the scale, or None unless every sample's spacing is known (the grid stays relative)."""
    spacings = [s.spacing for s in samples]
    if not spacings or any(not sp for sp in spacings):
        return None
    return float(np.median([min(sp) for sp in spacings])) / fine_scale


@dataclass
class CachedImage:
    sample: Sample
    original_size: tuple[int, int]  # (H, W)
    coarse: torch.Tensor  # (1, h, w) at the global input size, [0, 1]
    fine: torch.Tensor | None  # (1, Hf, Wf) at the fine scale, [0, 1]
    masks: torch.Tensor | None = None  # (C, h, w) class-mask area fractions at the global input size

    def points_in(self, size: tuple[int, int]) -> np.ndarray:
        return to_scaled(self.sample.points, self.original_size, size)


def cache_images(
    samples: list[Sample], input_size: tuple[int, int], fine_scale: float | None, mask_bits: list[int] | None = None,
    fine_mm_per_px: float | None = None,
) -> list[CachedImage]:
    """Decode and resize each sample once; with ``mask_bits``, also its class masks (DatasetError if absent).
    The fine grid follows :func:`fine_grid` (physical with ``fine_mm_per_px`` and the sample's spacing)."""
    cached = []
    for sample in samples:
        image = load_image(sample.image_path).display_normalised()
        size = image.shape[:2]
        coarse = resize_image(image, input_size)
        fine = resize_image(image, fine_grid(size, fine_scale, sample.spacing, fine_mm_per_px)) if fine_scale else None
        masks = None
        if mask_bits:
            if sample.mask_path is None:
                raise DatasetError(f"{sample.id}: this model needs segmentation masks and the dataset has none for it")
            masks = resize_masks(load_class_masks(sample.mask_path, mask_bits), input_size)
        cached.append(CachedImage(sample, (int(size[0]), int(size[1])), coarse, fine, masks))
    return cached


def global_batch(
    items: list[CachedImage], input_size: tuple[int, int], rng: np.random.Generator, augment: AugmentConfig | None, with_masks: bool = False
) -> tuple[torch.Tensor, ...]:
    """Augmented network inputs (B, 1, h, w) and their points (B, K, 2) in input pixels.

    ``with_masks``: also the class masks (B, C, h, w), warped by the same matrix
    as the image (nearest neighbour), so image, points and masks stay aligned.
    """
    h, w = input_size
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    images, points, masks = [], [], []
    for item in items:
        if augment is None:
            matrix = affine_in_from_out(input_size, centre)
        else:
            angle, zoom, (sx, sy) = random_geometry(rng, augment)
            matrix = affine_in_from_out(input_size, centre, angle_deg=angle, zoom=zoom, shift_in=(sx * w, sy * h))
        image = warp(item.coarse, torch.as_tensor(matrix[None], dtype=torch.float32), input_size)
        if with_masks:
            masks.append(warp(item.masks, torch.as_tensor(matrix[None], dtype=torch.float32), input_size, mode="nearest"))
        if augment is not None:
            image = augment_intensity(image, rng, augment)
        images.append(standardise(image))
        points.append(apply_affine(invert_affine(matrix), item.points_in(input_size)))
    out = (torch.cat(images), torch.as_tensor(np.stack(points), dtype=torch.float32))
    return out + (torch.cat(masks),) if with_masks else out


def patch_batch(
    item: CachedImage,
    patch_size: int,
    rng: np.random.Generator,
    augment: AugmentConfig | None,
    jitter: float,
    landmarks: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """Patches of one image around jittered ground-truth points.

    Returns patches (N, 1, P, P), landmark ids (N,), targets (N, 2) in patch
    pixels and the (N, 2, 3) patch → fine-grid matrices. ``jitter`` is the standard deviation (fine pixels) of the centre
    offset, mimicking the global stage's error; offsets are clipped to a third
    of the patch so the landmark stays well inside.
    """
    assert item.fine is not None
    gt = item.points_in(tuple(item.fine.shape[-2:]))
    ids = np.arange(len(gt)) if landmarks is None else landmarks
    ids = ids[np.isfinite(gt[ids]).all(axis=1)]
    limit = patch_size / 3.0
    offsets = np.clip(rng.normal(0.0, jitter, size=(len(ids), 2)), -limit, limit)
    centres = gt[ids] + offsets
    if augment is None:
        angles = zooms = None
    else:
        angles = rng.uniform(-augment.rotation_deg, augment.rotation_deg, size=len(ids))
        zooms = rng.uniform(*augment.scale, size=len(ids))
    matrices = patch_matrices(centres, patch_size, angles, zooms)
    patches = cut_patches(item.fine, matrices, patch_size)
    if augment is not None:
        patches = torch.cat([augment_intensity(p[None], rng, augment) for p in patches])
    targets = np.stack([apply_affine(invert_affine(m), gt[i]) for m, i in zip(matrices, ids)])
    ids_t = torch.as_tensor(ids, dtype=torch.long)
    return standardise(patches), ids_t, torch.as_tensor(targets, dtype=torch.float32), matrices
