"""The model's confidence beside each stored point (probability mass near it, 0..1)."""

from __future__ import annotations

import numpy as np

from app.overlays.labels import LabelsOverlay
from app.theme import confidence_colour
from app.viewer.frame import Frame
from core.project.records import LandmarkState


class ConfidenceOverlay(LabelsOverlay):
    key = "confidence"
    title = "Confidence"
    tooltip = "The model's confidence in each predicted point: red < 0.1, amber < 0.3, green above"
    shortcut = "C"
    z = 41.0
    offset = (13.0, 6.0)

    def text(self, frame: Frame, k: int) -> tuple[str, str] | None:
        value = frame.confidence[k]
        if not np.isfinite(value) or frame.states[k] in (LandmarkState.CORRECTED, LandmarkState.ABSENT):
            return None
        return (f"{value:.2f}", confidence_colour(float(value)))
