"""The landmark table of the current image: state, confidence, position in px and mm, error, model.

Error is shown when the image comes from a data set with reference positions
(``app.ground_truth``); otherwise "—". Model is, for a point the user placed or
accepted, how far the image's latest prediction lies from it (``core.review.agreement``;
after a new version is adopted every image is predicted again, so this is where the
adopted model still disagrees with the user). While a point is dragged its row shows
the live position. Below the table: the selected landmark's provenance (source, time,
the model's original point, the latest prediction's distance).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPointF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QTableView, QToolButton, QVBoxLayout, QWidget

from app.document import ProjectDocument
from core.review.agreement import landmark_distances, landmark_distances_mm
from app.ground_truth import ground_truth
from app.overlays.landmarks import marker_path
from app.theme import MUTED, STATE_STYLES, confidence_colour, state_style

COLUMNS = ("Landmark", "State", "Conf.", "x, y (px)", "x, y (mm)", "Error", "Model")
MODEL_COLUMN = COLUMNS.index("Model")
POSITION_COLUMN = COLUMNS.index("x, y (px)")
OPTIONAL_COLUMNS = tuple(COLUMNS.index(c) for c in ("x, y (mm)", "Error", "Model"))  # hidden when empty
DASH = "—"


def state_icon(state: str) -> QIcon:
    style = STATE_STYLES[state]
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.translate(QPointF(8, 8))
    painter.setPen(QPen(QColor(style.colour), 1.8))
    painter.drawPath(marker_path(style.shape, 5.0))
    painter.end()
    return QIcon(pixmap)


class LandmarkTableModel(QAbstractTableModel):
    def __init__(self, doc: ProjectDocument) -> None:
        super().__init__()
        self.doc = doc
        self.names: tuple[str, ...] = ()
        self.preview: dict[str, tuple[float, float]] = {}
        self.truth: np.ndarray | None = None
        self.predicted: tuple[str, np.ndarray] | None = None  # (model id, (K, 2) px) of the latest prediction
        self._icons = {key: state_icon(key) for key in STATE_STYLES}

    def reload(self) -> None:
        self.beginResetModel()
        self.names = self.doc.landmark_names() if self.doc.image() is not None else ()
        self.preview.clear()
        image = self.doc.image()
        self.truth = None
        if image is not None:
            self.truth = ground_truth(image.path, self.doc.project.schema.name, self.names)
        self.load_prediction()
        self.endResetModel()

    def load_prediction(self) -> None:
        """Keep the current image's latest prediction (points only) for the Model column."""
        cached = self.doc.prediction() if self.doc.image() is not None else None
        self.predicted = None if cached is None else (cached.model_id, np.array(cached.points, dtype=np.float64))

    def refresh(self, name: str) -> None:
        if name in self.names:
            row = self.names.index(name)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def set_preview(self, name: str, x: float, y: float) -> None:
        """A drag moves only the position columns (from "x, y (px)" on): the others keep their cells."""
        self.preview[name] = (x, y)
        if name in self.names:
            row = self.names.index(name)
            self.dataChanged.emit(self.index(row, POSITION_COLUMN), self.index(row, len(COLUMNS) - 1))

    def clear_preview(self, name: str) -> None:
        if self.preview.pop(name, None) is not None:
            self.refresh(name)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.names)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def position(self, row: int) -> tuple[float, float] | None:
        name = self.names[row]
        if name in self.preview:
            return self.preview[name]
        record = self.doc.image().landmarks[name]
        return (record.x, record.y) if math.isfinite(record.x) and math.isfinite(record.y) else None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        image = self.doc.image()
        if not index.isValid() or image is None:
            return None
        row, col = index.row(), index.column()
        name = self.names[row]
        record = image.landmarks[name]
        state = record.state
        pos = self.position(row)
        spacing = self.doc.spacing(image.id)  # the file's, the project's, or the data set table's
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return name
            if col == 1:
                return state
            if col == 2:
                return DASH if record.confidence is None else f"{record.confidence:.2f}"
            if col == 3:
                return DASH if pos is None else f"{pos[0]:.1f}, {pos[1]:.1f}"
            if col == 4:
                return DASH if pos is None or spacing is None else f"{pos[0] * spacing[0]:.1f}, {pos[1] * spacing[1]:.1f}"
            if col == MODEL_COLUMN:
                return self.model_distance(row) or DASH
            return self._error_text(row, pos, spacing)
        if role == Qt.ItemDataRole.DecorationRole and col == 1:
            return self._icons.get(state)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 1:
                return QColor(state_style(state).colour)
            if col == 2 and record.confidence is not None:
                return QColor(confidence_colour(record.confidence))
            if pos is None and col >= 3:
                return QColor(MUTED)
        if role == Qt.ItemDataRole.ToolTipRole and col == 0:
            return self.doc.project.schema.labels[row]
        if role == Qt.ItemDataRole.ToolTipRole and col == MODEL_COLUMN:
            distance = self.model_distance(row)
            return f"model {self.predicted[0]}: {distance} from your point" if distance else None
        return None

    def model_distances(self) -> tuple[np.ndarray, str] | None:
        """((K,) distances, "mm" or "px") from the latest prediction to the user's points (NaN where
        the user has not placed or accepted a point); None without an image or a prediction."""
        image = self.doc.image()
        if self.predicted is None or image is None:
            return None
        points = self.predicted[1]
        mm = landmark_distances_mm(image, points)
        return (mm, "mm") if mm is not None else (landmark_distances(image, points), "px")

    def model_distance(self, row: int) -> str | None:
        """``"1.3 mm"`` (``"4.2 px"`` without a spacing) for this row, or None (see model_distances)."""
        distances = self.model_distances()
        if distances is None or not np.isfinite(distances[0][row]):
            return None
        return f"{distances[0][row]:.1f} {distances[1]}"

    def informative_columns(self) -> set[int]:
        """The optional columns with something to say for this image: mm only with a spacing,
        Error only with ground truth, Model only where the user placed or accepted a point the
        latest prediction can be compared with. The others are hidden so the table fits its dock."""
        image = self.doc.image()
        shown: set[int] = set()
        if image is None:
            return shown
        if self.doc.spacing(image.id) is not None:
            shown.add(COLUMNS.index("x, y (mm)"))
        if self.truth is not None:
            shown.add(COLUMNS.index("Error"))
        distances = self.model_distances()
        if distances is not None and np.isfinite(distances[0]).any():
            shown.add(MODEL_COLUMN)
        return shown

    def _error_text(self, row: int, pos, spacing) -> str:
        if self.truth is None or pos is None or not np.isfinite(self.truth[row]).all():
            return DASH
        dx, dy = pos[0] - self.truth[row, 0], pos[1] - self.truth[row, 1]
        px = math.hypot(dx, dy)
        if spacing is None:
            return f"{px:.1f} px"
        return f"{math.hypot(dx * spacing[0], dy * spacing[1]):.1f} mm"


class LandmarksPanel(QWidget):
    def __init__(self, doc: ProjectDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self._syncing = False
        self.model = LandmarkTableModel(doc)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setStyleSheet(f"color: {MUTED}; padding: 4px 6px;")
        self.buttons = QHBoxLayout()
        self.buttons.setContentsMargins(4, 2, 4, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.table, 1)
        layout.addLayout(self.buttons)
        layout.addWidget(self.details)

        self.table.selectionModel().currentRowChanged.connect(self._on_row)
        doc.current_image_changed.connect(lambda _id: self.reload())
        doc.spacing_changed.connect(lambda image_id: self.reload() if image_id == doc.current_image_id else None)  # mm columns
        doc.project_closed.connect(self.reload)
        doc.landmark_changed.connect(self._on_landmark_changed)
        doc.prediction_stored.connect(self._on_prediction_stored)
        doc.current_landmark_changed.connect(self._show_current)

    def add_actions(self, actions) -> None:
        """Buttons for the edit actions under the table."""
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.buttons.addWidget(button)
        self.buttons.addStretch(1)

    def reload(self) -> None:
        self.model.reload()
        self._update_columns()
        self._show_current(self.doc.current_landmark or "")

    def _update_columns(self) -> None:
        shown = self.model.informative_columns()
        for col in OPTIONAL_COLUMNS:
            self.table.setColumnHidden(col, col not in shown)

    def _on_landmark_changed(self, image_id: str, name: str) -> None:
        if image_id == self.doc.current_image_id:
            self.model.clear_preview(name)
            self.model.refresh(name)
            self._update_columns()
            if name == self.doc.current_landmark:
                self._update_details()

    def _on_prediction_stored(self, image_id: str) -> None:
        if image_id == self.doc.current_image_id:
            self.model.load_prediction()
            for name in self.model.names:
                self.model.refresh(name)
            self._update_columns()
            self._update_details()

    def _on_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and not self._syncing:
            self.doc.select_landmark(self.model.names[current.row()])

    def _show_current(self, name: str) -> None:
        self._syncing = True
        try:
            if name in self.model.names:
                row = self.model.names.index(name)
                self.table.setCurrentIndex(self.model.index(row, 0))
                self.table.selectRow(row)
            else:
                self.table.clearSelection()
        finally:
            self._syncing = False
        self._update_details()

    def _update_details(self) -> None:
        image, name = self.doc.image(), self.doc.current_landmark
        if image is None or name not in image.landmarks:
            self.details.setText("")
            return
        record = image.landmarks[name]
        label = self.doc.project.schema.labels[self.doc.landmark_names().index(name)]
        lines = [f"<b style='color:#d7dae0'>{label}</b>"]
        if record.source:
            lines.append(f"placed by {record.source}, {record.updated[:19].replace('T', ' ')} UTC")
        if record.original is not None:
            lines.append(f"model's original point: {record.original[0]:.1f}, {record.original[1]:.1f} px")
        distance = self.model.model_distance(self.doc.landmark_names().index(name))
        if distance:
            lines.append(f"model {self.model.predicted[0]}: {distance} from your point")
        self.details.setText("<br>".join(lines))
