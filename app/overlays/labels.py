"""Landmark names beside their points."""

from __future__ import annotations

from app.overlays.base import Overlay
from app.overlays.tag_item import TagItem
from app.theme import LABEL_COLOUR
from app.viewer.coords import image_to_item
from app.viewer.frame import Frame


class LabelsOverlay(Overlay):
    key = "labels"
    title = "Labels"
    tooltip = "Each landmark's name beside its point"
    shortcut = "L"
    z = 40.0
    offset = (13.0, -13.0)

    def __init__(self, box) -> None:
        super().__init__(box)
        self.tags: list[TagItem] = []

    def text(self, frame: Frame, k: int) -> tuple[str, str] | None:
        """(text, colour) for landmark ``k``, or None to hide its tag."""
        return (frame.names[k], LABEL_COLOUR)

    def draw(self, frame: Frame) -> None:
        while len(self.tags) < frame.n:
            self.tags.append(self.add_item(TagItem(self.offset, bold=False)))
        for k in range(len(self.tags)):
            self._place(frame, k)

    def _place(self, frame: Frame, k: int) -> None:
        tag = self.tags[k]
        content = self.text(frame, k) if k < frame.n and frame.has_point(k) else None
        tag.setData(0, content is not None)
        if content is not None:
            tag.set_text(*content)
            tag.setPos(*image_to_item(*frame.points[k]))
        tag.setVisible(self.is_shown() and content is not None)

    def _apply_visibility(self) -> None:
        shown = self.is_shown()
        for tag in self.tags:
            tag.setVisible(shown and bool(tag.data(0)))

    def point_moved(self, frame: Frame, k: int) -> None:
        if self._available and k < len(self.tags):
            self._place(frame, k)
