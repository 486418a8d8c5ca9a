"""The model's intermediate points: global soft-argmax and GNN-refined (DESIGN.md 2.1).

Two layers, one class each, sharing a small base: fixed-size symbols at the
prediction's (K, 2) points, drawn from the cached prediction and never edited.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from app.overlays.base import Overlay
from app.theme import REFINED_COLOUR, SOFT_ARGMAX_COLOUR
from app.viewer.coords import points_to_item
from app.viewer.frame import Frame


class _PredictionPoints(Overlay):
    attribute = ""
    symbol = "x"
    colour = "#ffffff"
    size = 11

    def __init__(self, box) -> None:
        super().__init__(box)
        self.scatter = self.add_item(pg.ScatterPlotItem(pxMode=True))

    def available(self, frame: Frame | None) -> bool:
        return frame is not None and frame.prediction is not None

    def draw(self, frame: Frame) -> None:
        pts = points_to_item(getattr(frame.prediction, self.attribute))
        ok = np.isfinite(pts).all(axis=1)
        self.scatter.setData(
            pos=pts[ok],
            symbol=self.symbol,
            size=self.size,
            # pyqtgraph's "x" and "+" are filled shapes: colour inside, a dark rim, so
            # they read on bright bone and dark lung alike.
            pen=pg.mkPen("#000000", width=1.0),
            brush=pg.mkBrush(self.colour),
        )

    def point_moved(self, frame: Frame, k: int) -> None:
        """Model points do not follow edits."""


class SoftArgmaxOverlay(_PredictionPoints):
    key = "soft_argmax"
    title = "Soft-argmax points"
    tooltip = "Where the global heatmaps put each landmark (soft-argmax), before refinement"
    shortcut = "S"
    z = 22.0
    attribute = "soft_argmax"
    symbol = "x"
    colour = SOFT_ARGMAX_COLOUR


class RefinedOverlay(_PredictionPoints):
    key = "refined"
    title = "GNN-refined points"
    tooltip = "The graph refiner's points (soft-argmax plus the offset it learned from the landmark graph)"
    shortcut = "R"
    z = 23.0
    attribute = "refined"
    symbol = "+"
    colour = REFINED_COLOUR
    size = 13
