"""The model's heatmaps: the selected landmark's distribution, or all of them at once.

Heatmaps are the global stage's (K, h, w) distributions (each sums to 1); each is
scaled to its own peak, upsampled ×4 bilinearly (smooth on screen) and coloured with a
colormap whose low end is transparent, so the anatomy stays visible under it; a cyan line
at a tenth of the peak outlines each map, so it can be found at fit zoom on a bright film. The
``heatmap_to_image`` (2, 3) affine of the prediction places it over the image.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QTransform

from app.overlays.base import Overlay
from app.viewer.frame import Frame

COLORMAPS = ("inferno", "viridis", "plasma", "magma", "CET-L17")
#: The contour drawn around each map: a tenth of its peak (its extent, wider than the marker), in
#: cyan (legible on bright and dark film alike).
CONTOUR_LEVEL = 0.1
CONTOUR_COLOUR = "#4dd9ff"
MODES = ("selected", "all")
UPSAMPLE = 4


def upsample(heat: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear ×``factor`` resize of (h, w) with ``align_corners=False`` sampling."""
    h, w = heat.shape

    def axis(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0, n - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        return lo, hi, (src - lo)

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    top = heat[y0][:, x0] * (1 - fx) + heat[y0][:, x1] * fx
    bottom = heat[y1][:, x0] * (1 - fx) + heat[y1][:, x1] * fx
    return (top * (1 - fy)[:, None] + bottom * fy[:, None]).astype(np.float32)


def item_transform(heatmap_to_image: np.ndarray, factor: int) -> QTransform:
    """Heatmap-item coordinates → image-item coordinates for a ×``factor`` upsampled heatmap.

    ``heatmap_to_image`` maps heatmap pixel centres (u, v) to image pixels: x = a·u + c.
    Upsampled pixel u' samples u = (u' + 0.5)/f − 0.5, so x = a'·u' + c' with a' = a/f and
    c' = c + a·(0.5/f − 0.5). Item coordinates are pixel coordinates + 0.5 on both sides
    (ADR 0001): X = a'·(U − 0.5) + c' + 0.5.
    """
    m = np.asarray(heatmap_to_image, dtype=np.float64)
    ax, cx = m[0, 0] / factor, m[0, 2] + 0.5 * m[0, 0] / factor - 0.5 * m[0, 0]
    ay, cy = m[1, 1] / factor, m[1, 2] + 0.5 * m[1, 1] / factor - 0.5 * m[1, 1]
    return QTransform(ax, 0.0, 0.0, ay, cx + 0.5 - 0.5 * ax, cy + 0.5 - 0.5 * ay)


def lookup_table(name: str) -> np.ndarray:
    """(256, 4) uint8 RGBA: the colormap with alpha rising from 0, so faint means see-through."""
    lut = pg.colormap.get(name).getLookupTable(0.0, 1.0, 256, alpha=True).astype(np.uint8)
    ramp = np.clip(np.linspace(0.0, 1.0, 256) * 2.2, 0.0, 1.0)
    lut[:, 3] = (ramp * 255).astype(np.uint8)
    lut[0, 3] = 0
    return lut


class HeatmapOverlay(Overlay):
    key = "heatmap"
    title = "Heatmaps"
    tooltip = "The model's spatial distribution for the selected landmark, or for all landmarks"
    shortcut = "H"
    z = 6.0
    default_opacity = 0.7

    def __init__(self, box) -> None:
        super().__init__(box)
        self.mode = "selected"
        self.colormap = COLORMAPS[0]
        self.image = self.add_item(pg.ImageItem(axisOrder="row-major"))
        self.image.setLookupTable(lookup_table(self.colormap))
        # The outline of each map (CONTOUR_LEVEL), in a colour that reads on a bright film as on a dark one:
        # at fit zoom a peaked map is a few screen pixels across and its colours alone get lost.
        self.contour = pg.IsocurveItem(level=CONTOUR_LEVEL, pen=pg.mkPen(CONTOUR_COLOUR, width=1.6))
        self.contour.setParentItem(self.image)  # same transform as the map it outlines
        self._key: tuple | None = None

    def available(self, frame: Frame | None) -> bool:
        return frame is not None and frame.prediction is not None and getattr(frame.prediction, "heatmaps", None) is not None

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"heatmap mode must be one of {MODES}")
        self.mode = mode
        self._redraw()

    def set_colormap(self, name: str) -> None:
        self.colormap = name
        self.image.setLookupTable(lookup_table(name))

    def _redraw(self) -> None:
        if self.frame is not None and self._available:
            self.draw(self.frame)
            self._apply_visibility()

    def draw(self, frame: Frame) -> None:
        heatmaps = np.asarray(frame.prediction.heatmaps, dtype=np.float32)
        k = frame.selected if self.mode == "selected" else None
        key = (id(frame.prediction), self.mode, k)
        if key == self._key:
            return
        self._key = key
        if self.mode == "selected" and k is not None and k < len(heatmaps):
            heat = heatmaps[k] / max(float(heatmaps[k].max()), 1e-12)
        elif self.mode == "all":
            peaks = heatmaps.reshape(len(heatmaps), -1).max(axis=1)
            heat = (heatmaps / np.maximum(peaks, 1e-12)[:, None, None]).max(axis=0)
        else:
            heat = np.zeros(heatmaps.shape[1:], np.float32)
        fine = upsample(heat, UPSAMPLE)
        self.image.setImage(fine, autoLevels=False, levels=(0.0, 1.0))
        self.image.setTransform(item_transform(frame.prediction.heatmap_to_image, UPSAMPLE))
        # IsocurveItem follows pyqtgraph's imageAxisOrder, which the app sets to row-major like the map.
        self.contour.setData(np.ascontiguousarray(fine.T) if pg.getConfigOption("imageAxisOrder") == "col-major" else fine)

    def set_frame(self, frame: Frame | None) -> None:
        self._key = None
        super().set_frame(frame)

    def selection_changed(self, frame: Frame) -> None:
        if self.mode == "selected":
            self._redraw()

    def point_moved(self, frame: Frame, k: int) -> None:
        """Heatmaps are the model's: they do not follow edits."""
