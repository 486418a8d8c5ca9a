"""The measurements of the current image: value, ± SD and 95 % interval, updated live while dragging.

Values come from ``core.measurements`` (distances in mm with a pixel spacing, else px;
angles in degrees). The uncertainty samples each still-predicted landmark from the
model's cached heatmaps: the samples are drawn once per prediction and kept, so every
mouse move of a drag only re-evaluates the measurements (about a millisecond).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from app.document import ProjectDocument
from app.theme import MUTED
from core.measurements import DEFAULT_SAMPLES, MeasurementValue, heatmap_offsets, measure, uncertainty_scale
from core.project import LandmarkState

COLUMNS = ("Measurement", "Value", "± SD", "95 % interval")
DASH = "—"


def _number(v: float | None, m: MeasurementValue) -> str:
    if v is None:
        return DASH
    return f"{v:.{3 if m.kind == 'ratio' else 1}f}"


class MeasurementsPanel(QWidget):
    """A table of the schema's measurements on the current image."""

    def __init__(self, doc: ProjectDocument, samples: int = DEFAULT_SAMPLES, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.samples = samples
        self.values: list[MeasurementValue] = []
        self._preview: dict[str, tuple[float, float]] = {}
        self._stale = False  # a preview arrived while hidden: measure when shown
        self._offsets_key: tuple | None = None
        self._offsets: np.ndarray | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {MUTED}; padding: 4px 6px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        doc.current_image_changed.connect(self._on_image)
        doc.spacing_changed.connect(lambda image_id: self.refresh() if image_id == doc.current_image_id else None)
        doc.project_closed.connect(self.refresh)
        doc.landmark_changed.connect(self._on_landmark_changed)
        doc.prediction_stored.connect(self._on_prediction)

    # -- inputs -------------------------------------------------------------------------

    def set_preview(self, name: str, x: float, y: float) -> None:
        """A landmark is being dragged: measure as if it were at (x, y), fixed. Behind another tab
        the panel only notes it and measures when shown: a drag frame must not pay for a table
        nobody sees (issue 22)."""
        self._preview[name] = (float(x), float(y))
        if self.visibleRegion().isEmpty():  # hidden, or a tab behind another (still "visible" to Qt)
            self._stale = True
            return
        self.refresh()

    def refresh_if_stale(self) -> None:
        """Measure what arrived while the panel was hidden (its dock's tab was brought forward)."""
        if self._stale:
            self.refresh()

    def _on_image(self, _image_id: str) -> None:
        self._preview.clear()
        self.refresh()

    def _on_landmark_changed(self, image_id: str, name: str) -> None:
        if image_id == self.doc.current_image_id:
            self._preview.pop(name, None)
            self.refresh()

    def _on_prediction(self, image_id: str) -> None:
        if image_id == self.doc.current_image_id:
            self._offsets_key = None
            self.refresh()

    def _sample_offsets(self, image_id: str) -> np.ndarray | None:
        """(N, K, 2) heatmap samples of the current prediction, drawn once per prediction."""
        prediction = self.doc.prediction(image_id)
        if prediction is None:
            return None
        key = (image_id, prediction.model_id, prediction.created)
        if key != self._offsets_key:
            self._offsets = heatmap_offsets(prediction.heatmaps, prediction.heatmap_to_image, self.samples,
                                            scale=uncertainty_scale(prediction.model_id))
            self._offsets_key = key
        return self._offsets

    # -- output -------------------------------------------------------------------------

    def refresh(self) -> None:
        self._stale = False
        image = self.doc.image()
        if image is None or self.doc.project is None:
            self.values = []
            self._fill()
            self.note.setText("")
            return
        schema = self.doc.project.schema
        points = image.positions()
        uncertain = np.array([image.landmarks[n].state == LandmarkState.PREDICTED for n in schema.landmarks])
        for name, (x, y) in self._preview.items():
            k = schema.index(name)
            points[k] = (x, y)
            uncertain[k] = False
        offsets = self._sample_offsets(image.id) if self.samples > 0 else None
        spacing = self.doc.spacing(image.id)  # the file's, the project's, or the data set table's
        self.values = measure(schema, points, spacing, offsets, uncertain)
        self._fill()
        if not schema.measurements:
            self.note.setText(f"Schema {schema.name} defines no measurements.")
        elif offsets is None:
            self.note.setText("No prediction cached: values without uncertainty.")
        else:
            unit = "mm" if spacing is not None else "px (no pixel spacing known)"
            self.note.setText(f"± SD and 95 % interval from {len(offsets)} samples of the model's heatmaps "
                              f"for landmarks still predicted; corrected and verified ones are fixed. "
                              f"Distances in {unit}.")

    def _fill(self) -> None:
        table = self.table
        if table.rowCount() != len(self.values):
            table.setRowCount(len(self.values))
        for row, m in enumerate(self.values):
            unit = f" {m.unit}" if m.unit else ""
            cells = (
                m.label,
                DASH if m.value is None else _number(m.value, m) + unit,
                DASH if m.sd is None else _number(m.sd, m),
                DASH if m.low is None else f"{_number(m.low, m)} – {_number(m.high, m)}",
            )
            for col, text in enumerate(cells):
                item = table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    if col:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    table.setItem(row, col, item)
                if item.text() != text:
                    item.setText(text)
            table.item(row, 0).setToolTip(m.name)

    def value(self, name: str) -> MeasurementValue | None:
        """The shown value of measurement ``name`` (tests, export)."""
        return next((m for m in self.values if m.name == name), None)
