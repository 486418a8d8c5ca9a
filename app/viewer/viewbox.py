"""A ``pg.ViewBox`` with radiology gestures (Weasis/OHIF style).

- left-drag on a landmark moves it (the viewer decides, through ``point_drag``);
  left-drag elsewhere or middle-drag pans; wheel zooms about the cursor;
- right-drag sets window/level (``window_dragged``), with no context menu;
- left click reports the image point (``clicked``); double click fits the image.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal


class PointDragHandler:
    """What the view box asks while the left button drags (implemented by the viewer)."""

    def begin(self, scene_pos: QPointF) -> bool:
        """True when the press at ``scene_pos`` grabbed a landmark (then no panning)."""
        return False

    def move(self, scene_pos: QPointF) -> None: ...

    def finish(self, scene_pos: QPointF) -> None: ...


class ViewerBox(pg.ViewBox):
    window_dragged = Signal(float, float)
    window_drag_finished = Signal()
    clicked = Signal(object)
    double_clicked = Signal()

    def __init__(self) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self.setMouseMode(pg.ViewBox.PanMode)
        self.point_drag: PointDragHandler = PointDragHandler()
        self._dragging_point = False

    def mouseDragEvent(self, ev, axis=None) -> None:
        button = ev.button()
        if button == Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            self.window_dragged.emit(float(delta.x()), float(delta.y()))
            if ev.isFinish():
                self.window_drag_finished.emit()
            return
        if button == Qt.MouseButton.LeftButton:
            if ev.isStart():
                self._dragging_point = self.point_drag.begin(ev.buttonDownScenePos(button))
            if self._dragging_point:
                ev.accept()
                if ev.isFinish():
                    self._dragging_point = False
                    self.point_drag.finish(ev.scenePos())
                else:
                    self.point_drag.move(ev.scenePos())
                return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.double():
                self.double_clicked.emit()
            else:
                self.clicked.emit(ev.scenePos())
        else:
            ev.accept()  # no context menu: right button is window/level
