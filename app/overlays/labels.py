"""Landmark names beside their points, moved apart where neighbours crowd (``app.overlays.declutter``)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

from app.overlays.base import Overlay
from app.overlays.declutter import block_rect, place_blocks
from app.overlays.tag_item import TagItem
from app.theme import LABEL_COLOUR
from app.viewer.coords import image_to_item
from app.viewer.frame import Frame


def tag_shifts(box, frame: Frame, width_of) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) screen shifts of each landmark's tag block for the current view and (K,) block widths,
    shared by the label and confidence layers (cached on the view box until the view or the points change)."""
    key = (id(frame), tuple(map(tuple, box.viewRange())), frame.points.tobytes())
    cached = getattr(box, "_tag_shifts", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    anchors = np.full((frame.n, 2), np.nan)
    for k in range(frame.n):
        if frame.has_point(k):
            device = box.mapViewToDevice(QPointF(*image_to_item(*frame.points[k])))
            if device is not None:
                anchors[k] = (device.x(), device.y())
    widths = np.array([width_of(frame, k) for k in range(frame.n)])
    layout = (place_blocks(anchors, widths), widths)
    box._tag_shifts = (key, layout)
    return layout


class LabelsOverlay(Overlay):
    key = "labels"
    title = "Labels"
    tooltip = "Each landmark's name beside its point (moved apart, with a leader line, where neighbours crowd)"
    shortcut = "L"
    z = 40.0
    offset = (13.0, -13.0)

    def __init__(self, box) -> None:
        super().__init__(box)
        self.tags: list[TagItem] = []
        self._shifts: np.ndarray | None = None  # (K, 2) screen shifts of the blocks (tag_shifts)
        self._widths: np.ndarray | None = None
        self.leaders = None
        if type(self) is LabelsOverlay:  # the confidence layer shares the blocks, the names draw the leaders
            self.leaders = self.add_item(pg.PlotDataItem(connect="finite", pen=pg.mkPen((200, 205, 215, 150), width=1)))

    def text(self, frame: Frame, k: int) -> tuple[str, str] | None:
        """(text, colour) for landmark ``k``, or None to hide its tag."""
        return (frame.names[k], LABEL_COLOUR)

    def block_width(self, frame: Frame, k: int) -> float:
        """Width of landmark ``k``'s block: the wider of its name and its confidence tag."""
        probe = self.tags[0]  # draw() makes the tags first; every tag has the same font
        confidence = frame.confidence[k]
        return max(probe.text_width(frame.names[k]), probe.text_width(f"{confidence:.2f}") if np.isfinite(confidence) else 0.0)

    def draw(self, frame: Frame) -> None:
        while len(self.tags) < frame.n:
            self.tags.append(self.add_item(TagItem(self.offset, bold=False)))
        self._shifts, self._widths = tag_shifts(self.box, frame, self.block_width)
        for k in range(len(self.tags)):
            self._place(frame, k)
        self._draw_leaders(frame)

    def view_changed(self) -> None:
        """Zoom or pan: crowding changes with the scale, so the blocks are placed again."""
        if self._available and self.frame is not None:
            self.draw(self.frame)

    def _place(self, frame: Frame, k: int) -> None:
        tag = self.tags[k]
        content = self.text(frame, k) if k < frame.n and frame.has_point(k) else None
        tag.setData(0, content is not None)
        if content is not None:
            tag.set_text(*content)
            if self._shifts is not None and k < len(self._shifts):
                tag.set_shift(*self._shifts[k])
            tag.setPos(*image_to_item(*frame.points[k]))
        tag.setVisible(self.is_shown() and content is not None)

    def _draw_leaders(self, frame: Frame) -> None:
        """A thin line from each moved block to its marker."""
        if self.leaders is None:
            return
        segments = []
        for k in np.flatnonzero(np.abs(self._shifts).sum(axis=1) > 0):
            if not frame.has_point(k) or k >= len(self.tags):
                continue
            anchor = image_to_item(*frame.points[k])
            device = self.box.mapViewToDevice(QPointF(*anchor))
            x0, y0, x1, y1 = block_rect((device.x(), device.y()), self._widths[k], self._shifts[k])
            # the block's point nearest the marker, on screen, back in item coordinates
            end = self.box.mapDeviceToView(QPointF(min(max(device.x(), x0), x1), min(max(device.y(), y0), y1)))
            segments += [anchor, (end.x(), end.y()), (np.nan, np.nan)]
        points = np.array(segments, dtype=float) if segments else np.empty((0, 2))
        self.leaders.setData(points[:, 0], points[:, 1]) if len(points) else self.leaders.setData([], [])

    def _apply_visibility(self) -> None:
        shown = self.is_shown()
        for tag in self.tags:
            tag.setVisible(shown and bool(tag.data(0)))
        if self.leaders is not None:
            self.leaders.setVisible(shown)

    def point_moved(self, frame: Frame, k: int) -> None:
        if self._available and k < len(self.tags):
            self._place(frame, k)
