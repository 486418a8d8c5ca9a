"""Overlay layers drawn over the radiograph, one class per layer (STYLE.md "Small files")."""

from __future__ import annotations

from app.overlays.base import Overlay
from app.overlays.confidence import ConfidenceOverlay
from app.overlays.displacement import DisplacementOverlay
from app.overlays.edges import EdgesOverlay
from app.overlays.heatmap import HeatmapOverlay
from app.overlays.labels import LabelsOverlay
from app.overlays.landmarks import LandmarkOverlay
from app.overlays.masks import MaskOverlay
from app.overlays.model_points import RefinedOverlay, SoftArgmaxOverlay
from app.overlays.uncertainty import UncertaintyOverlay

#: Layer classes in the order the Layers panel lists them (top of the list = drawn on top).
OVERLAY_CLASSES: tuple[type[Overlay], ...] = (
    LandmarkOverlay,
    LabelsOverlay,
    ConfidenceOverlay,
    UncertaintyOverlay,
    RefinedOverlay,
    SoftArgmaxOverlay,
    DisplacementOverlay,
    EdgesOverlay,
    HeatmapOverlay,
    MaskOverlay,
)

__all__ = ["OVERLAY_CLASSES", "Overlay"] + [cls.__name__ for cls in OVERLAY_CLASSES]
