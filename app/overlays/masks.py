"""Segmentation masks (C, H, W) from the model, one colour per class; only when the model gives them.

Each class can be hidden on its own (the Layers panel's per-class boxes); a
class keeps its colour whether or not the others are shown.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from app.overlays.base import Overlay
from app.theme import MASK_COLOURS
from app.viewer.frame import Frame


def outline_width(shape: tuple[int, int]) -> int:
    """Outline thickness in image px: about 2 screen px when a typical film fits the window."""
    return max(2, round(max(shape) / 500))


def mask_outline(mask: np.ndarray, width: int) -> np.ndarray:
    """The pixels of ``mask`` within ``width`` px of its border (its edge band)."""
    from scipy.ndimage import binary_erosion

    return mask & ~binary_erosion(mask, iterations=width, border_value=0)


def colour_masks(masks: np.ndarray, alpha: int = 110, shown: list[bool] | None = None, outline: bool = False) -> np.ndarray:
    """(C, H, W) bool → (H, W, 4) uint8 RGBA, later classes drawn over earlier ones; ``shown[c]`` False skips
    class c; ``outline`` draws each class's border band only (opaque), so the anatomy under it stays visible."""
    masks = np.asarray(masks, dtype=bool)
    rgba = np.zeros(masks.shape[1:] + (4,), dtype=np.uint8)
    width = outline_width(masks.shape[1:])
    for c, mask in enumerate(masks):
        if shown is not None and not shown[c]:
            continue
        colour = pg.mkColor(MASK_COLOURS[c % len(MASK_COLOURS)])
        area = mask_outline(mask, width) if outline else mask
        rgba[area] = (colour.red(), colour.green(), colour.blue(), 235 if outline else alpha)
    return rgba


def mask_classes(frame: Frame | None) -> tuple[str, ...]:
    """Class names of the masks drawn for ``frame``: the prediction's own, else the frame's."""
    if frame is None:
        return ()
    return tuple(getattr(frame.prediction, "mask_classes", ()) or frame.mask_classes)


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
        self.hidden_classes: set[str] = set()
        self.outline = False

    def set_class_visible(self, name: str, visible: bool) -> None:
        """Show or hide one mask class (by name) and redraw."""
        (self.hidden_classes.discard if visible else self.hidden_classes.add)(name)
        self._drawn = None
        if self.frame is not None and self.available(self.frame):
            self.draw(self.frame)

    def set_outline(self, on: bool) -> None:
        """Outlines only (the anatomy under a mask stays visible) or filled masks; redraws."""
        self.outline = bool(on)
        self._drawn = None
        if self.frame is not None and self.available(self.frame):
            self.draw(self.frame)

    def available(self, frame: Frame | None) -> bool:
        return frame is not None and frame.prediction is not None and getattr(frame.prediction, "masks", None) is not None

    def draw(self, frame: Frame) -> None:
        if self._drawn is frame.prediction:
            return
        self._drawn = frame.prediction
        shown = [name not in self.hidden_classes for name in mask_classes(frame)] or None
        self.image.setImage(colour_masks(frame.prediction.masks, shown=shown, outline=self.outline), autoLevels=False, levels=(0, 255))

    def point_moved(self, frame: Frame, k: int) -> None:
        """Masks are the model's: they do not follow edits."""

    def legend(self) -> list[tuple[str, str]]:
        """(class name, colour) of the classes drawn."""
        classes = mask_classes(self.frame)
        return [(name, MASK_COLOURS[c % len(MASK_COLOURS)]) for c, name in enumerate(classes)]
