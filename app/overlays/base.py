"""The overlay base class: one visual layer over the image, with a toggle and an opacity.

An overlay owns graphics items in the viewer's ``ViewBox`` (item coordinates: image
pixel (x, y) is drawn at (x + 0.5, y + 0.5), ``app.viewer.coords``). It is told about
a new :class:`app.viewer.frame.Frame` with ``set_frame``, about one point moving (drag
preview or a stored edit) with ``point_moved`` and about the current landmark with
``selection_changed``; the defaults redraw everything, layers that must keep up with a
drag override ``point_moved`` with a cheap update.
"""

from __future__ import annotations

from PySide6.QtWidgets import QGraphicsItem

from app.viewer.frame import Frame


class Overlay:
    key = ""
    title = ""
    tooltip = ""
    shortcut = ""
    z = 10.0
    default_visible = True
    default_opacity = 1.0

    def __init__(self, box) -> None:
        self.box = box
        self.items: list[QGraphicsItem] = []
        self.visible = self.default_visible
        self.opacity = self.default_opacity
        self.frame: Frame | None = None
        self._available = False

    # -- what subclasses implement ----------------------------------------------------

    def available(self, frame: Frame | None) -> bool:
        """Whether this layer has anything to draw for ``frame`` (e.g. masks need a model's masks)."""
        return frame is not None

    def detail(self, frame: Frame | None) -> str:
        """What the layer shows for ``frame`` beyond its tooltip (e.g. which calibration); "" by default."""
        return ""

    def draw(self, frame: Frame) -> None:
        """Redraw every item from ``frame`` (only called when available)."""
        raise NotImplementedError

    def point_moved(self, frame: Frame, k: int) -> None:
        """Point ``k`` of ``frame`` moved (drag preview or stored edit)."""
        self.set_frame(frame)

    def selection_changed(self, frame: Frame) -> None:
        """``frame.selected`` changed."""

    def view_changed(self) -> None:
        """The view was zoomed or panned (layers laid out in screen pixels redo that)."""

    # -- shared machinery -------------------------------------------------------------

    def set_frame(self, frame: Frame | None) -> None:
        self.frame = frame
        self._available = self.available(frame)
        if self._available:
            self.draw(frame)
        self._apply_visibility()

    def add_item(self, item: QGraphicsItem) -> QGraphicsItem:
        item.setZValue(self.z)
        item.setOpacity(self.opacity)
        item.setVisible(self.visible and self._available)
        self.box.addItem(item, ignoreBounds=True)
        self.items.append(item)
        return item

    def set_visible(self, visible: bool) -> None:
        self.visible = bool(visible)
        self._apply_visibility()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = min(max(float(opacity), 0.0), 1.0)
        for item in self.items:
            item.setOpacity(self.opacity)

    def is_shown(self) -> bool:
        return self.visible and self._available

    def _apply_visibility(self) -> None:
        shown = self.visible and self._available
        for item in self.items:
            item.setVisible(shown)
