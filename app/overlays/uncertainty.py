"""The model's calibrated uncertainty region around each predicted point: an ellipse that holds
the true point with the stated probability (``core.uncertainty.conformal``; e.g. 90 %).

Drawn around the model's own answer (``prediction.points``), so it stays put while a
point is dragged: a correction that lands outside it is one the model did not expect.
Calibrated on the project's own reviewed points once it has enough of them for the model
(``core.learning.recalibration``), else by the model card's calibration; the layer's tooltip
says which, and on how many points.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from app.overlays.base import Overlay
from app.theme import UNCERTAINTY_COLOUR
from app.viewer.coords import points_to_item
from app.viewer.frame import Frame
from core.uncertainty.conformal import prediction_regions
from core.project.records import LandmarkState

#: Vertices per ellipse (the last repeats the first).
SEGMENTS = 64


def ellipse_outlines(centres: np.ndarray, regions: np.ndarray, segments: int = SEGMENTS) -> np.ndarray:
    """(K·(segments + 2), 2) image px: each closed ellipse then a NaN row (a pen break).

    centres: (K, 2) (x, y); regions: (K, 3) semi-major, semi-minor, angle in degrees
    from +x towards +y. Landmarks without a finite centre or region are skipped.
    """
    t = np.linspace(0.0, 2.0 * np.pi, segments + 1)
    parts = []
    for (cx, cy), (a, b, angle) in zip(np.asarray(centres, float), np.asarray(regions, float)):
        if not np.isfinite([cx, cy, a, b, angle]).all():
            continue
        th = np.radians(angle)
        u, v = a * np.cos(t), b * np.sin(t)
        ring = np.stack([cx + u * np.cos(th) - v * np.sin(th), cy + u * np.sin(th) + v * np.cos(th)], axis=-1)
        parts += [ring, np.full((1, 2), np.nan)]
    return np.concatenate(parts) if parts else np.empty((0, 2))


class UncertaintyOverlay(Overlay):
    key = "uncertainty"
    title = "Uncertainty regions"
    tooltip = "Calibrated region around each predicted point that holds the true point with the stated probability"
    shortcut = "U"
    z = 20.0

    def __init__(self, box) -> None:
        super().__init__(box)
        self.curve = self.add_item(pg.PlotDataItem(connect="finite", pen=pg.mkPen(UNCERTAINTY_COLOUR, width=1.6, style=Qt.PenStyle.DashLine)))
        self.coverage: float | None = None
        self._drawn = None
        self._regions = None
        self.source = ""

    def _regions_of(self, frame: Frame):
        """(regions, coverage) for the frame's prediction: from the project's own calibration when the
        frame carries one (``core.learning.recalibration``), else from the model's card; None without."""
        key = (frame.prediction, frame.calibration)
        if self._drawn is None or self._drawn[0] is not key[0] or self._drawn[1] is not key[1]:
            own = frame.calibration
            self._regions = prediction_regions(frame.prediction, own.calibration if own is not None else None)
            model = getattr(frame.prediction, "model_id", "")
            self.source = (own.describe() if own is not None else
                           f"calibrated for {model} on its held-out images (its model card)") if self._regions else ""
            self._drawn = key
        return self._regions

    def detail(self, frame: Frame | None) -> str:
        """Which calibration the regions use, and on how many points (the layer's tooltip)."""
        return self.source if self.available(frame) else ""

    def available(self, frame: Frame | None) -> bool:
        return frame is not None and frame.prediction is not None and self._regions_of(frame) is not None

    def draw(self, frame: Frame) -> None:
        regions, self.coverage = self._regions_of(frame)
        absent = np.array([s is LandmarkState.ABSENT for s in frame.states])
        centres = np.where(absent[:, None], np.nan, np.asarray(frame.prediction.points, float))
        outline = points_to_item(ellipse_outlines(centres, regions))
        self.curve.setData(outline[:, 0], outline[:, 1])

    def point_moved(self, frame: Frame, k: int) -> None:
        """The regions are the model's, around its own points: they do not follow edits."""
