"""The status bar: messages, pixel value and position (px and mm) under the cursor, the
prediction progress with its cancel button, and a read-only badge."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

from app.viewer.coords import pixel_index


class StatusBar(QStatusBar):
    def __init__(self, cancel_action) -> None:
        super().__init__()
        self.read_only = QLabel("")
        self.read_only.setStyleSheet("color: #ffb020; font-weight: 600;")
        self.position = QLabel("")
        self.value = QLabel("")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(200)
        self.progress.setTextVisible(True)
        self.cancel = QToolButton()
        self.cancel.setDefaultAction(cancel_action)
        for widget in (self.read_only, self.position, self.value, self.progress, self.cancel):
            self.addPermanentWidget(widget)
        self.position.setMinimumWidth(260)
        self.value.setMinimumWidth(110)
        self.show_progress(False)

    def show_progress(self, visible: bool) -> None:
        self.progress.setVisible(visible)
        self.cancel.setVisible(visible)

    def set_progress(self, done: int, total: int, message: str) -> None:
        self.show_progress(True)
        if total <= 0 or (done == 0 and message.startswith("Loading")):
            self.progress.setRange(0, 0)  # busy indicator while the model loads
        else:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.progress.setFormat(f"{done}/{total}")
        self.showMessage(message)

    def set_cursor(self, point, radiograph, spacing: tuple[float, float] | None = None) -> None:
        """Cursor at image point (x, y) (or None) over ``radiograph`` (or None). ``spacing`` (x, y) mm
        is the one the panels use (``ProjectDocument.spacing``); the file's own when not given."""
        if point is None or radiograph is None:
            self.position.setText("")
            self.value.setText("")
            return
        x, y = point
        index = pixel_index(x, y, radiograph.shape)
        if index is None:
            self.position.setText("")
            self.value.setText("")
            return
        text = f"x {x:7.1f}  y {y:7.1f} px"
        spacing = spacing if spacing is not None else radiograph.spacing
        if spacing is not None:
            sx, sy = spacing
            text += f"   ({x * sx:.1f}, {y * sy:.1f} mm)"
        self.position.setText(text)
        value = float(radiograph.pixels[index])
        self.value.setText(f"value {value:.0f}" if math.isfinite(value) and abs(value) >= 100 else f"value {value:.4g}")
