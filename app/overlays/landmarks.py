"""The landmarks themselves: one marker per stored point, styled by state, draggable.

Markers keep a constant size on screen (``ItemIgnoresTransformations``) and show the
state by shape and colour (``app.theme.STATE_STYLES``); the current landmark gets a
white halo. Dragging is driven by the viewer (``hit`` then ``point_moved``), so this
layer only draws.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from app.overlays.base import Overlay
from app.theme import state_style
from app.viewer.coords import image_to_item
from app.viewer.frame import Frame

RADIUS = 7.0
SELECTED_RADIUS = 12.0
HIT_TOLERANCE_PX = 12.0


def marker_path(shape: str, r: float) -> QPainterPath:
    """Outline of a state marker of radius ``r`` screen pixels around (0, 0)."""
    path = QPainterPath()
    if shape == "diamond":
        r *= 1.25
        path.moveTo(0, -r)
        path.lineTo(r, 0)
        path.lineTo(0, r)
        path.lineTo(-r, 0)
        path.closeSubpath()
    elif shape == "square":
        path.addRect(QRectF(-r * 0.9, -r * 0.9, r * 1.8, r * 1.8))
    elif shape == "cross":
        path.moveTo(-r, -r)
        path.lineTo(r, r)
        path.moveTo(-r, r)
        path.lineTo(r, -r)
    else:
        path.addEllipse(QPointF(0, 0), r, r)
    return path


class _Marker(QGraphicsItem):
    """One landmark marker, drawn in screen pixels around its position."""

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.shape_name = "circle"
        self.colour = QColor("#ffffff")
        self.selected = False

    def set_style(self, shape: str, colour: str, selected: bool) -> None:
        if (shape, colour, selected) != (self.shape_name, self.colour.name(), self.selected):
            self.shape_name, self.colour, self.selected = shape, QColor(colour), selected
            self.update()

    def boundingRect(self) -> QRectF:
        r = SELECTED_RADIUS + 4
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        path = marker_path(self.shape_name, RADIUS)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        halo = QPen(QColor(0, 0, 0, 200), 4.5)
        painter.setPen(halo)
        painter.drawPath(path)
        painter.setPen(QPen(self.colour, 2.0))
        painter.drawPath(path)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 220))
        painter.drawEllipse(QPointF(0, 0), 2.6, 2.6)
        painter.setBrush(self.colour)
        painter.drawEllipse(QPointF(0, 0), 1.6, 1.6)
        if self.selected:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 160), 4.0))
            painter.drawEllipse(QPointF(0, 0), SELECTED_RADIUS, SELECTED_RADIUS)
            painter.setPen(QPen(QColor("#ffffff"), 1.6, Qt.PenStyle.DashLine))
            painter.drawEllipse(QPointF(0, 0), SELECTED_RADIUS, SELECTED_RADIUS)


class LandmarkOverlay(Overlay):
    key = "landmarks"
    title = "Landmarks"
    tooltip = "The stored points: predicted (amber circle), corrected (cyan diamond), verified (green square), absent (grey cross)"
    shortcut = "K"
    z = 30.0

    def __init__(self, box) -> None:
        super().__init__(box)
        self.markers: list[_Marker] = []

    def draw(self, frame: Frame) -> None:
        while len(self.markers) < frame.n:
            self.markers.append(self.add_item(_Marker()))
        for k, marker in enumerate(self.markers):
            self._place(frame, k, marker)

    def _place(self, frame: Frame, k: int, marker: _Marker) -> None:
        if k >= frame.n or not frame.has_point(k):
            marker.setVisible(False)
            marker.setData(0, False)
            return
        style = state_style(frame.states[k])
        marker.set_style(style.shape, style.colour, k == frame.selected)
        marker.setPos(*image_to_item(*frame.points[k]))
        marker.setZValue(self.z + (1 if k == frame.selected else 0))
        marker.setData(0, True)
        marker.setVisible(self.is_shown())

    def _apply_visibility(self) -> None:
        shown = self.is_shown()
        for marker in self.markers:
            marker.setVisible(shown and bool(marker.data(0)))

    def point_moved(self, frame: Frame, k: int) -> None:
        if self._available and k < len(self.markers):
            self._place(frame, k, self.markers[k])

    def selection_changed(self, frame: Frame) -> None:
        if self._available:
            for k, marker in enumerate(self.markers[: frame.n]):
                if frame.has_point(k):
                    style = state_style(frame.states[k])
                    marker.set_style(style.shape, style.colour, k == frame.selected)
                    marker.setZValue(self.z + (1 if k == frame.selected else 0))

    def hit(self, scene_pos: QPointF, tolerance: float = HIT_TOLERANCE_PX) -> int | None:
        """The landmark whose marker is nearest ``scene_pos`` within ``tolerance`` screen px.

        Absent points (grey crosses) can be picked too: dragging one places it again.
        The current landmark wins ties so a crowded spot stays editable.
        """
        if self.frame is None or not self.is_shown():
            return None
        self.box.updateMatrix()  # pyqtgraph defers the view transform until the next paint
        best, best_d = None, tolerance
        for k, marker in enumerate(self.markers[: self.frame.n]):
            if not marker.isVisible():
                continue
            p = marker.scenePos()
            d = math.hypot(p.x() - scene_pos.x(), p.y() - scene_pos.y())
            if k == self.frame.selected:
                d -= 2.0
            if d <= best_d:
                best, best_d = k, d
        return best
