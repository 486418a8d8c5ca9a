"""Image pixels ↔ pyqtgraph item coordinates (docs/adr/0001-coordinates.md, "Display").

With ``imageAxisOrder='row-major'`` an ``ImageItem`` pixel (col i, row j) spans
[i, i+1) × [j, j+1) in item coordinates, while ``core`` puts the pixel centre at
(i, j). These two functions are the only place the half-pixel shift is written.
"""

from __future__ import annotations

import numpy as np


def image_to_item(x: float, y: float) -> tuple[float, float]:
    """Point (x, y) in image pixels → item (scene-of-the-view) coordinates."""
    return (x + 0.5, y + 0.5)


def item_to_image(u: float, v: float) -> tuple[float, float]:
    """Item coordinates (u, v) → image pixels (x, y)."""
    return (u - 0.5, v - 0.5)


def points_to_item(points: np.ndarray) -> np.ndarray:
    """(K, 2) image pixels → (K, 2) item coordinates; NaN rows stay NaN."""
    return np.asarray(points, dtype=np.float64) + 0.5


def pixel_index(x: float, y: float, shape: tuple[int, int]) -> tuple[int, int] | None:
    """(row, col) of the pixel containing image point (x, y), or None outside ``shape`` (H, W)."""
    col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    if 0 <= row < shape[0] and 0 <= col < shape[1]:
        return (row, col)
    return None
