"""The image browser: every image of the project with its review status and counts."""

from __future__ import annotations

from pathlib import Path

import qtawesome as qta
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QVBoxLayout, QWidget

from app.document import ProjectDocument
from app.theme import IMAGE_STATUS_COLOURS, MISFIT_COLOUR, MUTED
from core.project.records import LandmarkState

COLUMNS = ("Image", "Status", "Done")
_REVIEWED = (LandmarkState.CORRECTED, LandmarkState.VERIFIED, LandmarkState.ABSENT)


class ImageListModel(QAbstractTableModel):
    def __init__(self, doc: ProjectDocument) -> None:
        super().__init__()
        self.doc = doc
        self.ids: list[str] = []
        doc.images_changed.connect(self.reload)
        doc.project_closed.connect(self.reload)
        doc.image_changed.connect(self.refresh)

    def reload(self) -> None:
        self.beginResetModel()
        self.ids = self.doc.image_ids()
        self.endResetModel()

    def refresh(self, image_id: str) -> None:
        if image_id in self.ids:
            row = self.ids.index(image_id)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.doc.project is None:
            return None
        image = self.doc.image(self.ids[index.row()])
        counts = image.counts()
        total = sum(counts.values())
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return Path(image.path).name
            if col == 1:
                return image.status
            return f"{sum(counts.get(s, 0) for s in _REVIEWED)}/{total}"
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            return QColor(IMAGE_STATUS_COLOURS.get(image.status, MUTED))
        misfit = self._misfit(image.id)
        if role == Qt.ItemDataRole.DecorationRole and col == 0 and misfit is not None:
            return qta.icon("fa5s.exclamation-triangle", color=MISFIT_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole:
            parts = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) + " (done: corrected, verified or absent)"
            spacing = f"{image.spacing[0]:.3f} × {image.spacing[1]:.3f} mm/px" if image.spacing else "spacing unknown"
            warning = f"\nMay not be a {misfit.anatomy} radiograph: {misfit.describe()}" if misfit is not None else ""
            source = self.doc.project.image_source(image.id)  # a PACS image: where it was fetched from
            origin = f"\nFetched from {source.removeprefix('dicomweb:')}" if source else ""
            return f"{image.path}{origin}\n{image.size[1]} × {image.size[0]} px, {spacing}\n{parts}{warning}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _misfit(self, image_id: str):
        """The image's anatomy fit when it does *not* fit the project's anatomy (``core.anatomy``), else None."""
        fit = self.doc.anatomy_fit(image_id)
        return fit if fit is not None and not fit.fits else None


class ImagesPanel(QWidget):
    def __init__(self, doc: ProjectDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self._syncing = False  # True while this view writes the document's choice back
        self.model = ImageListModel(doc)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.table.selectionModel().currentRowChanged.connect(self._on_row)
        doc.current_image_changed.connect(self._show_current)
        self.model.modelReset.connect(lambda: self._show_current(doc.current_image_id or ""))

    def _on_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and not self._syncing:
            self.doc.select_image(self.model.ids[current.row()])

    def _show_current(self, image_id: str) -> None:
        if image_id not in self.model.ids:
            return
        # A guard rather than blockSignals: the table must still repaint its selection.
        self._syncing = True
        try:
            row = self.model.ids.index(image_id)
            self.table.setCurrentIndex(self.model.index(row, 0))
            self.table.selectRow(row)
        finally:
            self._syncing = False
