"""A small text tag drawn at a fixed screen offset from an image point (labels, confidence)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter
from PySide6.QtWidgets import QGraphicsItem


class TagItem(QGraphicsItem):
    """Text on a translucent dark plate, ``offset`` screen pixels from its position."""

    def __init__(self, offset: tuple[float, float], point_size: float = 8.5, bold: bool = False) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.base = QPointF(*offset)  # where the tag goes with nothing in its way
        self.offset = QPointF(*offset)
        self.font = QFont()
        self.font.setPointSizeF(point_size)
        self.font.setBold(bold)
        self.text = ""
        self.colour = QColor("#ffffff")
        self._rect = QRectF()

    def set_text(self, text: str, colour: str) -> None:
        if text == self.text and colour == self.colour.name():
            return
        self.text, self.colour = text, QColor(colour)
        self._layout()

    def text_width(self, text: str) -> float:
        """Width in screen px the tag takes for ``text`` (plate included)."""
        return QFontMetricsF(self.font).horizontalAdvance(text) + 8

    def set_shift(self, dx: float, dy: float) -> None:
        """Move the tag by (dx, dy) screen px from its usual offset (``app.overlays.declutter``)."""
        offset = QPointF(self.base.x() + dx, self.base.y() + dy)
        if offset != self.offset:
            self.offset = offset
            self._layout()

    def _layout(self) -> None:
        self.prepareGeometryChange()
        metrics = QFontMetricsF(self.font)
        width = metrics.horizontalAdvance(self.text) + 8
        height = metrics.height() + 2
        self._rect = QRectF(self.offset.x(), self.offset.y() - height / 2, width, height)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if not self.text:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(10, 12, 15, 170))
        painter.drawRoundedRect(self._rect, 3, 3)
        painter.setFont(self.font)
        painter.setPen(self.colour)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)
