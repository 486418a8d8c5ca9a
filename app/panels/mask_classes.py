"""One check box per segmentation class under the Layers panel's "Segmentation masks" toggle.

The classes come from the current prediction (``Frame.mask_classes``); each box
carries its class's colour swatch, so it doubles as the legend.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from app.overlays.masks import MaskOverlay
from app.theme import MASK_COLOURS


def class_label(name: str) -> str:
    """``right_lung`` → ``Right lung``."""
    return name.replace("_", " ").strip().capitalize() or name


def swatch(colour: str, size: int = 12) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class MaskClassToggles(QWidget):
    """Check boxes (class name → QCheckBox) that show or hide each class of ``overlay``."""

    def __init__(self, overlay: MaskOverlay, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overlay = overlay
        self.checks: dict[str, QCheckBox] = {}
        self._classes: tuple[str, ...] = ()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(18, 0, 0, 0)
        self._layout.setSpacing(1)
        self.outline = QCheckBox("Outlines only")
        self.outline.setToolTip("Draw each mask's border instead of filling it, so the anatomy under it stays visible")
        self.outline.toggled.connect(overlay.set_outline)
        self._layout.addWidget(self.outline)
        self.setVisible(False)

    def set_classes(self, classes: tuple[str, ...]) -> None:
        """Rebuild the boxes when the prediction's classes change; a hidden class stays hidden."""
        if tuple(classes) == self._classes:
            return
        self._classes = tuple(classes)
        for check in self.checks.values():
            self._layout.removeWidget(check)
            check.deleteLater()
        self.checks = {}
        for c, name in enumerate(self._classes):
            check = QCheckBox(class_label(name))
            check.setIcon(swatch(MASK_COLOURS[c % len(MASK_COLOURS)]))
            check.setToolTip(f"Show the {class_label(name).lower()} mask")
            check.setChecked(name not in self.overlay.hidden_classes)
            check.toggled.connect(lambda on, n=name: self.overlay.set_class_visible(n, on))
            self._layout.addWidget(check)
            self.checks[name] = check
        self.setVisible(bool(self._classes))
