"""The layers panel: each overlay's toggle and opacity, plus the heatmap's mode and colormap.

Toggles are the window's checkable actions (so keyboard shortcuts and the View menu
stay in step with the check boxes); a layer with nothing to draw for the current image
(no prediction, no masks) is greyed out and says why in its tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QLabel, QSlider, QWidget

from app.overlays import Overlay
from app.overlays.heatmap import COLORMAPS, MODES, HeatmapOverlay
from app.overlays.masks import MaskOverlay, mask_classes
from app.panels.mask_classes import MaskClassToggles
from app.theme import MUTED


class LayersPanel(QWidget):
    def __init__(self, overlays: list[Overlay], toggles: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overlays = overlays
        self.checks: dict[str, QCheckBox] = {}
        self.sliders: dict[str, QSlider] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        row = 0
        for overlay in overlays:
            action = toggles[overlay.key]
            check = QCheckBox(overlay.title)
            check.setToolTip(f"{overlay.tooltip} ({action.shortcut().toString()})")
            check.setChecked(action.isChecked())
            check.toggled.connect(action.setChecked)
            action.toggled.connect(check.setChecked)
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setValue(round(overlay.opacity * 100))
            slider.setFixedWidth(90)
            slider.setToolTip("Opacity")
            slider.valueChanged.connect(lambda v, o=overlay: o.set_opacity(v / 100.0))
            grid.addWidget(check, row, 0)
            grid.addWidget(slider, row, 1)
            self.checks[overlay.key], self.sliders[overlay.key] = check, slider
            row += 1
            if isinstance(overlay, HeatmapOverlay):
                row = self._heatmap_options(grid, row, overlay)
            if isinstance(overlay, MaskOverlay):
                self.mask_classes = MaskClassToggles(overlay)
                grid.addWidget(self.mask_classes, row, 0, 1, 2)
                row += 1
        grid.setRowStretch(row, 1)

    def _heatmap_options(self, grid: QGridLayout, row: int, heatmap: HeatmapOverlay) -> int:
        self.heatmap_mode = QComboBox()
        self.heatmap_mode.addItems([m.capitalize() + (" landmark" if m == "selected" else " landmarks") for m in MODES])
        self.heatmap_mode.currentIndexChanged.connect(lambda i: heatmap.set_mode(MODES[i]))
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.colormap.currentTextChanged.connect(heatmap.set_colormap)
        for widget, tip in ((self.heatmap_mode, "Heatmap of the selected landmark or of all"), (self.colormap, "Heatmap colormap")):
            widget.setToolTip(tip)
        label = QLabel("   show")
        label.setStyleSheet(f"color: {MUTED};")
        grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.heatmap_mode, row, 1)
        label = QLabel("   colours")
        label.setStyleSheet(f"color: {MUTED};")
        grid.addWidget(label, row + 1, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.colormap, row + 1, 1)
        return row + 2

    def refresh_availability(self) -> None:
        """Grey out layers with nothing to draw for the current image; list the mask classes it has."""
        for overlay in self.overlays:
            check = self.checks[overlay.key]
            available = overlay.available(overlay.frame)
            if isinstance(overlay, MaskOverlay):
                self.mask_classes.set_classes(mask_classes(overlay.frame) if available else ())
            check.setEnabled(available)
            if not available:
                reason = "no prediction for this image" if overlay.frame is not None else "no image"
                if overlay.key == "masks" and overlay.frame is not None and overlay.frame.prediction is not None:
                    reason = "this model makes no segmentation masks"
                if overlay.key == "uncertainty" and overlay.frame is not None and overlay.frame.prediction is not None:
                    reason = "this model's card has no calibrated uncertainty (anatomark calibrate)"
                check.setToolTip(f"{overlay.tooltip} — {reason}")
            else:
                detail = overlay.detail(overlay.frame)
                check.setToolTip(f"{overlay.tooltip} — {detail}" if detail else overlay.tooltip)
