"""A tiny synthetic dataset in the ``chest_jsrt`` layout (images, bit-flag masks,
``landmarks_chest6.csv``) for the model-zoo tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from core.schema import load_schema

SIZE = 64  # stored images are SIZE × SIZE
# chest6 order; the patient's right lung is on the image's left.
POINTS = np.array([[20, 12], [10, 50], [28, 46], [44, 12], [54, 50], [36, 46]], dtype=float)


def lung_masks(points: np.ndarray) -> np.ndarray:
    """(H, W) uint8 bit flags: 1 right lung, 2 left lung, 4 heart, 8/16 clavicles, around ``points``."""
    ys, xs = np.mgrid[:SIZE, :SIZE]
    flags = np.zeros((SIZE, SIZE), np.uint8)
    for side, bit in ((points[:3], 1), (points[3:], 2)):
        x0, x1 = side[:, 0].min() - 2, side[:, 0].max() + 2
        y0, y1 = side[:, 1].min() - 2, side[:, 1].max() + 2
        flags |= np.where((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1), bit, 0).astype(np.uint8)
    flags |= np.where((abs(xs - 32) < 7) & (ys > 44) & (ys < 60), 4, 0).astype(np.uint8)
    flags |= np.where((abs(ys - 8) < 2) & (xs > 8) & (xs < 28), 8, 0).astype(np.uint8)
    flags |= np.where((abs(ys - 8) < 2) & (xs > 36) & (xs < 56), 16, 0).astype(np.uint8)
    return flags


def make_chest_layout(root: Path, splits: tuple[str, ...] = ("train", "train", "train", "val")) -> Path:
    """Images whose lungs are bright boxes over a dark background, their masks and landmarks."""
    names = load_schema("chest6").landmarks
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    rows = []
    for n, split in enumerate(splits):
        sid = f"JPC{n:03d}"
        points = POINTS + rng.uniform(-2, 2, size=POINTS.shape).round(2)
        flags = lung_masks(points)
        pixels = 40.0 + 150.0 * ((flags & 3) > 0) + 60.0 * ((flags & 4) > 0) + rng.normal(0, 5, flags.shape)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / "images" / f"{sid}.png")
        Image.fromarray(flags).save(root / "masks" / f"{sid}.png")
        row = {"id": sid, "split": split}
        for name, (x, y) in zip(names, points):
            row[f"{name}_x"], row[f"{name}_y"] = f"{x:.2f}", f"{y:.2f}"
        rows.append(row)
    with open(root / "landmarks_chest6.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
