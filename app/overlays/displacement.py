"""The displacement the GNN refiner applied: an arrow from each soft-argmax point to its refined point."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from app.overlays.base import Overlay
from app.theme import DISPLACEMENT_COLOUR
from app.viewer.coords import points_to_item
from app.viewer.frame import Frame

#: Shorter displacements (image pixels) get no arrow head: it would hide the points.
MIN_ARROW_PX = 0.5


class DisplacementOverlay(Overlay):
    key = "displacement"
    title = "Refiner displacement"
    tooltip = "Arrows from the soft-argmax point to the GNN-refined point: what the refiner changed"
    shortcut = "D"
    z = 21.0

    def __init__(self, box) -> None:
        super().__init__(box)
        self.lines = self.add_item(pg.PlotDataItem(connect="pairs", pen=pg.mkPen(DISPLACEMENT_COLOUR, width=1.8)))
        self.heads: list[pg.ArrowItem] = []

    def available(self, frame: Frame | None) -> bool:
        return frame is not None and frame.prediction is not None

    def draw(self, frame: Frame) -> None:
        start = points_to_item(frame.prediction.soft_argmax)
        end = points_to_item(frame.prediction.refined)
        ok = np.isfinite(start).all(axis=1) & np.isfinite(end).all(axis=1)
        seg = np.empty((2 * int(ok.sum()), 2))
        seg[0::2], seg[1::2] = start[ok], end[ok]
        self.lines.setData(seg[:, 0], seg[:, 1])
        while len(self.heads) < len(start):
            head = pg.ArrowItem(headLen=9, tipAngle=32, tailLen=None, pen=pg.mkPen("#000000", width=0.8), brush=pg.mkBrush(DISPLACEMENT_COLOUR))
            self.heads.append(self.add_item(head))
        for k, head in enumerate(self.heads):
            show = k < len(start) and ok[k] and float(np.hypot(*(end[k] - start[k]))) >= MIN_ARROW_PX
            head.setData(0, bool(show))
            if show:
                dx, dy = end[k] - start[k]
                # An ArrowItem at angle 0 points to -x; y grows downwards on screen.
                head.setStyle(angle=math.degrees(math.atan2(-dy, -dx)))
                head.setPos(*end[k])

    def _apply_visibility(self) -> None:
        shown = self.is_shown()
        self.lines.setVisible(shown)
        for head in self.heads:
            head.setVisible(shown and bool(head.data(0)))

    def point_moved(self, frame: Frame, k: int) -> None:
        """The refiner's displacement does not change when a point is edited."""
