"""The review queue: images (and, expanded, their landmarks) ordered by how much they need a person.

The order and the reasons come from ``core.review.queue.ReviewQueue`` (heatmap spread, disagreement
between the model's stages, anatomical priors). The queue is rebuilt shortly after predictions
or landmark states change (one rebuild for a burst of changes, e.g. "Predict all"). Clicking
a row, or "Next to review" (Q), selects that image and landmark as the landmark table does.
Q goes to the top of the queue; pressed again straight away (the landmark left as it was),
it goes on to the next one, so a person can skip. A landmark a person corrects or verifies leaves the queue.
"""

from __future__ import annotations

import html

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.document import ProjectDocument, one_line
from app.theme import MUTED, STATE_STYLES
from core.review.queue import LandmarkItem, ReviewQueue
from core.project.records import LandmarkState

COLUMNS = ("Image / landmark", "Score", "Why")
REBUILD_MS = 150
_ID, _NAME = Qt.ItemDataRole.UserRole, Qt.ItemDataRole.UserRole + 1
_BROKEN = STATE_STYLES[LandmarkState.MISSING].colour


class ReviewPanel(QWidget):
    """A tree of the queue; ``next_item`` walks it in order."""

    #: Emitted after every rebuild (tests, screenshots).
    updated = Signal()
    #: (image id, landmark) chosen by "Next to review": the window brings the point into view.
    jumped = Signal(str, str)

    def __init__(self, doc: ProjectDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.queue = ReviewQueue()
        self._syncing = False
        self._expanded: set[str] = set()
        self._last_jump: tuple[str, str] | None = None
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.tree.setColumnWidth(0, 150)
        # The current row's reason in full: the Why column is elided in a narrow dock.
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet("padding: 4px 6px;")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet(f"color: {MUTED}; padding: 4px 6px;")
        # What is left on the image in view, updated after every edit (and re-prediction).
        self.image_line = QLabel()
        self.image_line.setWordWrap(True)
        self.image_line.setStyleSheet("padding: 4px 6px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.detail)
        layout.addWidget(self.image_line)
        layout.addWidget(self.summary)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REBUILD_MS)
        self._timer.timeout.connect(self.rebuild)
        self.tree.currentItemChanged.connect(self._on_item)
        self.tree.itemExpanded.connect(lambda item: self._on_expanded(item, True))
        self.tree.itemCollapsed.connect(lambda item: self._on_expanded(item, False))
        for signal in (doc.project_opened, doc.project_closed, doc.images_changed):
            signal.connect(self.schedule)
        doc.prediction_stored.connect(lambda _id: self.schedule())
        doc.image_changed.connect(lambda _id: self.schedule())
        doc.current_image_changed.connect(lambda _id: self._on_selection())
        doc.current_landmark_changed.connect(lambda _name: self._on_selection())

    # -- the queue ----------------------------------------------------------------------

    def schedule(self) -> None:
        """Rebuild soon: a burst of changes (a prediction of every image) rebuilds once."""
        self._timer.start()

    def _calibration(self, model_id: str):
        """The project's own calibration of ``model_id``'s regions, for the queue's spread (or None)."""
        own = self.doc.project_calibration(model_id)
        return own.calibration if own is not None else None

    def rebuild(self) -> None:
        self._timer.stop()
        project = self.doc.project
        if project is None:
            self.queue.items = []
        else:
            try:
                self.queue.update(project, self._calibration)
            except Exception as exc:  # a damaged cached prediction must not take the window down
                self.queue.items = []
                self.doc.error_raised.emit(f"The review queue could not be built: {one_line(exc)}")
        self._fill()
        self._show_current()
        self.updated.emit()

    def next_item(self) -> LandmarkItem | None:
        """Select the most urgent queued landmark; called again straight after, the one after it."""
        if self._timer.isActive():
            self.rebuild()  # an edit just now: go by the queue it leaves
        order = [m for it in self.queue.items for m in it.landmarks]
        if not order:
            self._last_jump = None
            return None
        keys = [(m.image_id, m.name) for m in order]
        current = (self.doc.current_image_id, self.doc.current_landmark)
        skip = current == self._last_jump and current in keys
        target = order[(keys.index(current) + 1) % len(order)] if skip else order[0]
        self._select(target.image_id, target.name)
        self._last_jump = (target.image_id, target.name)
        self.jumped.emit(target.image_id, target.name)
        return target

    # -- the tree -----------------------------------------------------------------------

    def _fill(self) -> None:
        self._syncing = True
        try:
            self.tree.clear()
            for it in self.queue.items:
                why = f"{it.landmarks[0].name}: {it.reason}"
                top = QTreeWidgetItem([self._image_name(it.image_id), f"{it.score:.1f}", why])
                self._decorate(top, it.image_id, None, why, any(m.broken for m in it.landmarks))
                for m in it.landmarks:
                    child = QTreeWidgetItem([m.name, f"{m.score:.1f}", m.reason])
                    self._decorate(child, m.image_id, m.name, m.reason, m.broken)
                    top.addChild(child)
                self.tree.addTopLevelItem(top)
        finally:
            self._syncing = False
        self.summary.setText(self._summary())

    def _decorate(self, item: QTreeWidgetItem, image_id: str, name: str | None, reason: str, broken: bool) -> None:
        item.setData(0, _ID, image_id)
        item.setData(0, _NAME, name)
        item.setToolTip(2, reason)
        item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if broken:
            item.setForeground(2, QColor(_BROKEN))

    def _image_name(self, image_id: str) -> str:
        return Path(self.doc.project.image(image_id).path).name

    def _summary(self) -> str:
        if self.doc.project is None:
            return ""
        items = self.queue.items
        if not items:
            return "Nothing to review: no image has unreviewed predicted landmarks."
        n = sum(len(it.landmarks) for it in items)
        ref = self.queue.reference
        source = f"typical distances from {ref.source}" if ref is not None else "too few images for typical distances"
        return f"{len(items)} images, {n} landmarks to review (Q: next); {source}."

    def _image_status(self, image_id: str | None) -> str:
        """"This image: 2 suspects left: Gn, Pog (of 5 unreviewed)", or that nothing is left."""
        if self.doc.project is None or image_id is None:
            return ""
        item = self.queue.image(image_id)
        if item is None:
            return "This image: nothing left to review."
        suspects = item.suspects
        unreviewed = f"{len(item.landmarks)} unreviewed"
        if not suspects:
            return f"This image: no suspects left ({unreviewed}, none unusual)."
        names = ", ".join(m.name for m in suspects[:6]) + ("…" if len(suspects) > 6 else "")
        plural = "s" if len(suspects) != 1 else ""
        return f"This image: <b>{len(suspects)} suspect{plural} left</b>: {html.escape(names)} (of {unreviewed})."

    @staticmethod
    def _detail(item: QTreeWidgetItem | None) -> str:
        """"<image or landmark> — <the whole reason>" for the label under the tree."""
        if item is None:
            return ""
        return f"<b>{html.escape(item.text(0))}</b> — {html.escape(item.toolTip(2))}"

    def _select(self, image_id: str, name: str | None) -> None:
        self.doc.select_image(image_id)
        if name is not None:
            self.doc.select_landmark(name)

    def _on_item(self, item: QTreeWidgetItem | None, _previous) -> None:
        if item is None or self._syncing:
            return
        name = item.data(0, _NAME)
        if name is None:
            top = self.queue.image(item.data(0, _ID))
            name = top.landmarks[0].name if top is not None else None
        self._select(item.data(0, _ID), name)

    def _on_expanded(self, item: QTreeWidgetItem, expanded: bool) -> None:
        """Remember what the user opened (not what follows the current image) across rebuilds."""
        if not self._syncing:
            (self._expanded.add if expanded else self._expanded.discard)(item.data(0, _ID))

    def _on_selection(self) -> None:
        self._last_jump = None  # another way of moving on: Q starts again from the top
        self._show_current()

    def _show_current(self) -> None:
        """Highlight the row of the current image and landmark; only it and the images the user opened are expanded."""
        image_id, name = self.doc.current_image_id, self.doc.current_landmark
        self._syncing = True
        try:
            target = None
            for i in range(self.tree.topLevelItemCount()):
                top = self.tree.topLevelItem(i)
                current = top.data(0, _ID) == image_id
                top.setExpanded(current or top.data(0, _ID) in self._expanded)
                if current:
                    target = next((top.child(j) for j in range(top.childCount())
                                   if top.child(j).data(0, _NAME) == name), top)
            self.tree.setCurrentItem(target)
            if target is not None:
                self.tree.scrollToItem(target)
            self.detail.setText(self._detail(target))
            self.detail.setVisible(target is not None)
            self.image_line.setText(self._image_status(image_id))
            self.image_line.setVisible(bool(self.image_line.text()))
        finally:
            self._syncing = False
