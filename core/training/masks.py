"""Segmentation masks of a dataset: bit-flag PNGs → per-class arrays, and Dice.

Mask files store one bit per structure (chest: 1 right lung, 2 left lung,
4 heart, 8/16 clavicles; structures may overlap), as the schema's
``segmentation_classes[i].bit`` says. Masks are resized with the image's own
resize (ADR 0001 pixel centres), so a mask and its image never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from core.training.datasets import DatasetError


def load_class_masks(path: Path, bits: Sequence[int]) -> np.ndarray:
    """(C, H, W) bool: pixel has bit ``bits[c]`` set. DatasetError when unreadable or not a label image."""
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I", "I;16"):
                raise DatasetError(f"{path.name}: mask must be a single-channel label image, not {im.mode}")
            labels = np.asarray(im).astype(np.int64)
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"{path.name}: cannot read mask ({exc.__class__.__name__})") from exc
    return np.stack([(labels & int(bit)) > 0 for bit in bits])


def resize_masks(masks: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, H, W) bool/float → (C, h, w) float32 area fractions in [0, 1] (the image resize's geometry)."""
    t = torch.as_tensor(np.asarray(masks, dtype=np.float32))[None]
    if tuple(t.shape[-2:]) == tuple(size):
        return t[0]
    return F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0.0, 1.0)


def dice_scores(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-class Dice 2|P∩T| / (|P| + |T|) of (C, H, W) bool arrays; 1 where both are empty."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    inter = (pred & truth).sum(axis=(-2, -1))
    total = pred.sum(axis=(-2, -1)) + truth.sum(axis=(-2, -1))
    return np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 1.0)


def prediction_dice(masks: np.ndarray, mask_classes: Sequence[str], mask_path: Path, schema) -> dict[str, float]:
    """Dice of a prediction's masks (C, H, W) against the sample's mask file, per class name."""
    bits = {c.name: c.bit for c in schema.segmentation_classes}
    truth = load_class_masks(mask_path, [bits[name] for name in mask_classes])
    if truth.shape[1:] != masks.shape[1:]:
        raise DatasetError(f"{mask_path.name}: mask is {truth.shape[2]}×{truth.shape[1]}, the image {masks.shape[2]}×{masks.shape[1]}")
    return dict(zip(mask_classes, (float(d) for d in dice_scores(masks, truth))))
