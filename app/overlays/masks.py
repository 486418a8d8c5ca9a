"""Segmentation masks (C, H, W) from the model, one colour per class; only when the model gives them."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from app.overlays.base import Overlay
from app.theme import MASK_COLOURS
from app.viewer.frame import Frame


def colour_masks(masks: np.ndarray, alpha: int = 110) -> np.ndarray:
    """(C, H, W) bool → (H, W, 4) uint8 RGBA, later classes drawn over earlier ones."""
    masks = np.asarray(masks, dtype=bool)
    rgba = np.zeros(masks.shape[1:] + (4,), dtype=np.uint8)
    for c, mask in enumerate(masks):
        colour = pg.mkColor(MASK_COLOURS[c % len(MASK_COLOURS)])
        rgba[mask] = (colour.red(), colour.green(), colour.blue(), alpha)
    return rgba


class MaskOverlay(Overlay):
    key = "masks"
    title = "Segmentation masks"
    tooltip = "The model's segmentation, one colour per class (only for models that segment)"
    shortcut = "M"
    z = 5.0
    default_opacity = 0.6

    def __init__(self, box) -> None:
        super().__init__(box)
        self.image = self.add_item(pg.ImageItem(axisOrder="row-major"))
        self._drawn = None

    def available(self, frame: Frame | None) -> bool:
        return frame is not None and frame.prediction is not None and getattr(frame.prediction, "masks", None) is not None

    def draw(self, frame: Frame) -> None:
        if self._drawn is frame.prediction:
            return
        self._drawn = frame.prediction
        self.image.setImage(colour_masks(frame.prediction.masks), autoLevels=False, levels=(0, 255))

    def point_moved(self, frame: Frame, k: int) -> None:
        """Masks are the model's: they do not follow edits."""

    def legend(self) -> list[tuple[str, str]]:
        """(class name, colour) of the classes drawn."""
        classes = self.frame.mask_classes if self.frame is not None else ()
        return [(name, MASK_COLOURS[c % len(MASK_COLOURS)]) for c, name in enumerate(classes)]
