"""Dragging a landmark: live preview while the button is down, one result on release.

The viewer's overlays follow the point on every mouse move (``Frame.points[k]`` is
changed in place and each overlay's ``point_moved`` redraws just that point); nothing
reaches the project until the release, when ``on_drop(name, x, y)`` lets the window
push one ``MoveLandmark`` (STYLE.md "One undo step per gesture").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPointF

from app.viewer.coords import item_to_image
from app.viewer.viewbox import PointDragHandler


class LandmarkDragger(PointDragHandler):
    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.k: int | None = None
        self.start: tuple[float, float] | None = None
        self.grab_offset = QPointF(0.0, 0.0)
        self.on_preview: Callable[[str, float, float], None] = lambda name, x, y: None
        self.on_drop: Callable[[str, float, float], None] = lambda name, x, y: None
        self.can_edit: Callable[[], bool] = lambda: True
        self.on_refused: Callable[[], None] = lambda: None

    @property
    def active(self) -> bool:
        return self.k is not None

    def begin(self, scene_pos: QPointF) -> bool:
        frame = self.viewer.frame
        k = self.viewer.landmarks.hit(scene_pos)
        if frame is None or k is None:
            return False
        if not self.can_edit():
            self.on_refused()
            return True  # swallow the gesture: no accidental pan on a read-only point
        self.k = k
        self.start = tuple(frame.points[k])
        marker = self.viewer.landmarks.markers[k].scenePos()
        self.grab_offset = marker - scene_pos  # keep the point under the cursor where it was grabbed
        self.viewer.landmark_clicked.emit(frame.names[k])  # grabbing a point selects it
        return True

    def _image_point(self, scene_pos: QPointF) -> tuple[float, float]:
        item = self.viewer.box.mapSceneToView(scene_pos + self.grab_offset)
        x, y = item_to_image(item.x(), item.y())
        h, w = self.viewer.frame.image_size
        return (float(np.clip(x, -0.5, w - 0.5)), float(np.clip(y, -0.5, h - 0.5)))

    def move(self, scene_pos: QPointF) -> None:
        if self.k is None:
            return
        x, y = self._image_point(scene_pos)
        self.viewer.preview_point(self.k, x, y)
        self.on_preview(self.viewer.frame.names[self.k], x, y)

    def finish(self, scene_pos: QPointF) -> None:
        if self.k is None:
            return
        k, self.k = self.k, None
        x, y = self._image_point(scene_pos)
        self.viewer.preview_point(k, x, y)
        if self.start is not None and (x, y) != self.start:
            self.on_drop(self.viewer.frame.names[k], x, y)

    def cancel(self) -> None:
        """Put the point back where the drag started (Escape, image change)."""
        if self.k is not None and self.start is not None:
            self.viewer.preview_point(self.k, *self.start)
        self.k = None
