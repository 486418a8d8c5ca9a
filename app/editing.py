"""Gestures and edit actions → undoable commands: dropping and placing points (place mode, P),
accepting, marking absent, verifying, and calibrating an image's spacing on a ruler.

The window owns the widgets; this controller turns what the user did into ``app.commands`` on the
document, and says in the status bar why nothing happened when nothing did.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QObject

from app import dialogs
from app.commands import AcceptLandmark, MarkAbsent, MoveLandmark, PlaceLandmark, VerifyImage
from core.project.records import LandmarkState


class EditController(QObject):
    """The editing half of the main window (``window.editing``); menus and keys call its slots."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.doc = window.doc  # messages go out as the document's signals, not into the window
        self._ruler: list[tuple[float, float]] = []  # a spacing calibration's marks (image px)

    def connect(self) -> None:
        """Wire it to the document and the viewer (once both exist)."""
        doc, viewer, actions = self.w.doc, self.w.viewer, self.w.actions
        for signal in (doc.current_image_changed, doc.current_landmark_changed):  # modes are per landmark
            signal.connect(lambda _x: actions.place.setChecked(False))
        doc.current_image_changed.connect(lambda _id: actions.calibrate_spacing.setChecked(False))
        doc.spacing_changed.connect(self.on_spacing_changed)
        viewer.point_dropped.connect(self.on_point_dropped)
        viewer.image_clicked.connect(self.on_image_clicked)

    def on_point_dropped(self, name: str, x: float, y: float) -> None:
        image_id = self.doc.current_image_id
        if image_id is None or not self.doc.push(MoveLandmark(self.doc, image_id, name, x, y)):
            self.w.rebuild_frame()  # refused: put the point back where the store has it
        else:
            self.w.repredict.request()

    def on_image_clicked(self, x: float, y: float) -> None:
        """A click on the image places the selected landmark when it has never been placed (MISSING),
        or in place mode (P): a landmark a person marked absent, or one to move there, is never
        placed by a stray click."""
        if self.w.actions.calibrate_spacing.isChecked():
            self._ruler_mark(x, y)
            return
        image_id, name = self.doc.current_image_id, self.doc.current_landmark
        if image_id is None or name is None:
            return
        state = self.doc.record(image_id, name).state
        placing = self.w.actions.place.isChecked()
        self.w.actions.place.setChecked(False)
        if state is LandmarkState.MISSING or (placing and state is LandmarkState.ABSENT):
            if self.doc.push(PlaceLandmark(self.doc, image_id, name, x, y)):
                self.w.repredict.request()
        elif placing:
            self.on_point_dropped(name, x, y)
        elif state is LandmarkState.ABSENT:
            self.doc.status_message.emit(f"{name} is marked absent: press P (Place Landmark), then click, to place it", 5000)
        else:
            self.doc.status_message.emit(f"{name} is placed: drag it to move it, or press P and click where it belongs", 4000)

    def toggle_calibration(self, on: bool) -> None:
        """Calibrate Spacing: two clicks on the ends of a known length, then its length in mm
        (``core.spacing``); the spacing is stored for this image with its provenance, undoable."""
        self._ruler = []
        self.w.viewer.show_ruler([])
        if on and (self.doc.current_image_id is None or not self.doc.require_editable()):
            self.w.actions.calibrate_spacing.setChecked(False)
            return
        if on:
            self.w.actions.place.setChecked(False)
            self.doc.status_message.emit("Click one end of a known length (a ruler) on the image", 0)
        else:
            self.doc.status_message.emit("", 0)

    def _ruler_mark(self, x: float, y: float) -> None:
        from app.commands import SetSpacing
        from core.spacing import ruler_note, spacing_from_ruler

        self._ruler.append((x, y))
        self.w.viewer.show_ruler(self._ruler)
        if len(self._ruler) < 2:
            self.doc.status_message.emit("Now click the other end", 0)
            return
        start, end = self._ruler
        length = dialogs.ask_ruler_length(self.w, math.hypot(end[0] - start[0], end[1] - start[1]))
        self.w.actions.calibrate_spacing.setChecked(False)  # clears the marks
        if length is None:
            return
        try:
            spacing = spacing_from_ruler(start, end, length)
        except ValueError as exc:
            self.doc.error_raised.emit(f"The spacing was not changed: {exc}")
            return
        image_id = self.doc.current_image_id
        if self.doc.push(SetSpacing(self.doc, image_id, spacing, ruler_note(start, end, length))):
            self.doc.status_message.emit(f"Pixel spacing set to {spacing[0]:.4f} mm/px from the ruler (Ctrl+Z: undo)", 6000)

    def on_spacing_changed(self, image_id: str) -> None:
        if image_id == self.doc.current_image_id:
            self.w.viewer.set_spacing(self.doc.spacing(image_id))

    def toggle_place_mode(self, on: bool) -> None:
        """Place mode (P): the next click on the image puts the selected landmark there."""
        name = self.doc.current_landmark
        if on and (self.doc.current_image_id is None or name is None):
            self.w.actions.place.setChecked(False)
            self.doc.status_message.emit("Select a landmark first, then press P and click where it is", 4000)
            return
        self.doc.status_message.emit(f"Click where {name} is (P again: cancel)" if on else "", 0 if on else 1)

    def _current(self):
        image_id, name = self.doc.current_image_id, self.doc.current_landmark
        if image_id is None or name is None:
            return None
        return image_id, name, self.doc.record(image_id, name).state

    def accept_landmark(self) -> None:
        current = self._current()
        if current is None:
            return
        image_id, name, state = current
        if state in (LandmarkState.MISSING, LandmarkState.ABSENT):
            self.doc.status_message.emit(f"{name} has no point to accept: press P and click on the image to place it", 4000)
        elif state is LandmarkState.VERIFIED:
            self.doc.status_message.emit(f"{name} is already verified", 3000)
        elif self.doc.push(AcceptLandmark(self.doc, image_id, name)):
            self.w.repredict.request()
            self.doc.step_landmark(1)

    def mark_absent(self) -> None:
        current = self._current()
        if current is None:
            return
        image_id, name, state = current
        if state is LandmarkState.ABSENT:
            self.doc.status_message.emit(f"{name} is already absent: press P and click on the image to place it", 3000)
        else:
            self.doc.push(MarkAbsent(self.doc, image_id, name))

    def verify_image(self) -> None:
        image = self.doc.image()
        if image is not None:
            self.doc.push(VerifyImage(self.doc, image.id, not image.verified))
