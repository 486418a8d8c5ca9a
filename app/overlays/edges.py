"""The schema's landmark graph: a line for each edge between current points."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from app.overlays.base import Overlay
from app.theme import EDGE_COLOUR
from app.viewer.coords import points_to_item
from app.viewer.frame import Frame
from core.project.records import LandmarkState


class EdgesOverlay(Overlay):
    key = "edges"
    title = "Graph edges"
    tooltip = "The schema's landmark graph (pairs, levels, chains) between the current points"
    shortcut = "E"
    z = 15.0
    default_opacity = 0.45

    def __init__(self, box) -> None:
        super().__init__(box)
        pen = pg.mkPen(EDGE_COLOUR, width=1.4, style=pg.QtCore.Qt.PenStyle.DashLine)
        self.lines = self.add_item(pg.PlotDataItem(connect="pairs", pen=pen))

    def available(self, frame: Frame | None) -> bool:
        return frame is not None and len(frame.edges) > 0

    def draw(self, frame: Frame) -> None:
        pts = points_to_item(frame.points)
        visible = np.array([s not in (LandmarkState.ABSENT, LandmarkState.MISSING) for s in frame.states])
        keep = [(i, j) for i, j in frame.edges if visible[i] and visible[j]]
        if not keep:
            self.lines.setData([], [])
            return
        idx = np.asarray(keep).ravel()
        seg = pts[idx]
        ok = np.isfinite(seg).all(axis=1).reshape(-1, 2).all(axis=1).repeat(2)
        seg = seg[ok]
        self.lines.setData(seg[:, 0], seg[:, 1])

    def point_moved(self, frame: Frame, k: int) -> None:
        if self._available:
            self.draw(frame)
