"""The re-prediction preview: ghost markers where the model now proposes the unreviewed
landmarks, with a thin arrow from each current point to its proposal.

Not a layer of the Layers panel: it exists only while a proposal waits for the person's
answer (``app.repredict``), drawn above every layer so it cannot be hidden by mistake.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from app.theme import PROPOSAL_COLOUR
from app.viewer.coords import points_to_item

Z = 40.0
GHOST_RADIUS = 8  # screen px


class ProposalPreview:
    def __init__(self, box) -> None:
        self.box = box
        self.lines = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(PROPOSAL_COLOUR, width=1.2))
        self.ghosts = pg.ScatterPlotItem(pxMode=True)
        self.heads: list[pg.ArrowItem] = []
        self._start = self._end = np.zeros((0, 2))
        for item in (self.lines, self.ghosts):
            item.setZValue(Z)
            box.addItem(item, ignoreBounds=True)
        box.sigRangeChanged.connect(lambda *_: self._place_heads())
        self.clear()

    def show(self, current: np.ndarray, proposed: np.ndarray) -> None:
        """Arrows from ``current`` (N, 2) image px to ``proposed`` (N, 2), ghosts at the proposals."""
        self._start, self._end = points_to_item(current), points_to_item(proposed)
        seg = np.empty((2 * len(self._start), 2))
        seg[0::2], seg[1::2] = self._start, self._end
        self.lines.setData(seg[:, 0], seg[:, 1])
        dashed = pg.mkPen(PROPOSAL_COLOUR, width=2.0, style=pg.QtCore.Qt.PenStyle.DashLine)
        self.ghosts.setData(pos=self._end, symbol="o", size=2 * GHOST_RADIUS, pen=dashed, brush=pg.mkBrush(0, 0, 0, 0))
        while len(self.heads) < len(self._start):
            head = pg.ArrowItem(headLen=8, tipAngle=32, tailLen=None, pen=pg.mkPen(PROPOSAL_COLOUR), brush=pg.mkBrush(PROPOSAL_COLOUR))
            head.setZValue(Z)
            self.box.addItem(head, ignoreBounds=True)
            self.heads.append(head)
        self.lines.setVisible(True)
        self.ghosts.setVisible(True)
        self._place_heads()

    def _place_heads(self) -> None:
        """Arrow heads touch the ghost's ring; the ring's radius is in screen px, so this
        follows the zoom."""
        px = self.box.viewPixelSize()
        for k, head in enumerate(self.heads):
            shown = self.ghosts.isVisible() and k < len(self._start)
            head.setVisible(shown)
            if not shown:
                continue
            d = self._end[k] - self._start[k]
            screen = float(np.hypot(d[0] / px[0], d[1] / px[1]))
            head.setVisible(screen > GHOST_RADIUS)
            head.setStyle(angle=math.degrees(math.atan2(-d[1], -d[0])))  # angle 0 points to -x
            tip = self._end[k] - d * (GHOST_RADIUS / screen) if screen > 0 else self._end[k]
            head.setPos(*tip)

    def clear(self) -> None:
        self.lines.setData([], [])
        self.ghosts.setData([])
        self._start = self._end = np.zeros((0, 2))
        for item in [self.lines, self.ghosts, *self.heads]:
            item.setVisible(False)

    def is_shown(self) -> bool:
        return self.ghosts.isVisible()
