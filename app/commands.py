"""Every edit as a ``QUndoCommand`` (STYLE.md "Every edit is a Command").

Commands act on a :class:`app.document.ProjectDocument`, need no window, and are
testable on their own. The first ``redo()`` (run by ``QUndoStack.push``) calls the
project's mutator (``set_point``, ``set_state``, ``set_verified``); ``undo()`` puts the
exact earlier record back with ``Project.restore(..., action="undo")`` and later
``redo()`` calls put the exact later record back (``action="redo"``), so provenance
and timestamps survive an undo/redo round trip. A mutator that refuses (a
``ProjectError``) makes the command obsolete: it is reported and never enters the stack.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from app.document import ProjectDocument, one_line
from core.project.records import LandmarkState


class _LandmarkCommand(QUndoCommand):
    """One landmark's record before and after a change."""

    def __init__(self, doc: ProjectDocument, image_id: str, name: str, text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.image_id = image_id
        self.name = name
        self.before = doc.record(image_id, name)
        self.after = None

    def _apply(self):
        raise NotImplementedError

    def redo(self) -> None:
        try:
            if self.after is None:
                self.after = self._apply()
            else:
                self.doc.apply_restore(self.image_id, self.name, self.after, action="redo")
                self.doc.reveal(self.image_id, self.name)
        except Exception as exc:  # the store refused: say so, and keep it off the stack
            self.setObsolete(True)
            self.doc.error_raised.emit(f"{self.text()}: {one_line(exc)}")

    def undo(self) -> None:
        try:
            self.doc.apply_restore(self.image_id, self.name, self.before, action="undo")
            self.doc.reveal(self.image_id, self.name)
        except Exception as exc:
            self.doc.error_raised.emit(f"Undo {self.text()}: {one_line(exc)}")


class MoveLandmark(_LandmarkCommand):
    """Drag a point to (x, y) image pixels: one command per gesture, pushed on release."""

    def __init__(self, doc: ProjectDocument, image_id: str, name: str, x: float, y: float) -> None:
        super().__init__(doc, image_id, name, f"Move {name}")
        self.x, self.y = float(x), float(y)

    def _apply(self):
        return self.doc.apply_point(self.image_id, self.name, self.x, self.y)


class PlaceLandmark(MoveLandmark):
    """Place a missing (or absent) landmark at a clicked position."""

    def __init__(self, doc: ProjectDocument, image_id: str, name: str, x: float, y: float) -> None:
        super().__init__(doc, image_id, name, x, y)
        self.setText(f"Place {name}")


class _SetState(_LandmarkCommand):
    verb = ""

    def __init__(self, doc: ProjectDocument, image_id: str, name: str) -> None:
        super().__init__(doc, image_id, name, f"{self.verb} {name}")

    def _state(self):
        raise NotImplementedError

    def _apply(self):
        return self.doc.apply_state(self.image_id, self.name, self._state())


class MarkAbsent(_SetState):
    """The landmark is not visible on this image (kept out of training as a position)."""

    verb = "Mark absent"

    def _state(self):
        return LandmarkState.ABSENT


class AcceptLandmark(_SetState):
    """Accept the point as it is: it becomes verified, keeping its provenance."""

    verb = "Accept"

    def _state(self):
        return LandmarkState.VERIFIED


class VerifyImage(QUndoCommand):
    """Mark an image verified (accepting its still-predicted points) or back to unverified."""

    def __init__(self, doc: ProjectDocument, image_id: str, verified: bool = True) -> None:
        super().__init__("Verify image" if verified else "Unverify image")
        self.doc = doc
        self.image_id = image_id
        self.verified = verified
        image = doc.image(image_id)
        self.was_verified = bool(image.verified)
        self.was_verified_by = image.verified_by
        self.accepted: dict[str, object] = {}
        self.after: dict[str, object] = {}
        if verified:
            self.accepted = {
                name: rec for name, rec in image.landmarks.items() if rec.state is LandmarkState.PREDICTED
            }

    def redo(self) -> None:
        try:
            for name, before in self.accepted.items():
                if name in self.after:
                    self.doc.apply_restore(self.image_id, name, self.after[name], action="redo")
                else:
                    self.after[name] = self.doc.apply_state(self.image_id, name, LandmarkState.VERIFIED)
            self.doc.apply_verified(self.image_id, self.verified)
            self.doc.reveal(self.image_id)
        except Exception as exc:
            self.setObsolete(True)
            self.doc.error_raised.emit(f"{self.text()}: {one_line(exc)}")

    def undo(self) -> None:
        try:
            self.doc.apply_verified(self.image_id, self.was_verified, by=self.was_verified_by)
            for name, before in self.accepted.items():
                self.doc.apply_restore(self.image_id, name, before, action="undo")
            self.doc.reveal(self.image_id)
        except Exception as exc:
            self.doc.error_raised.emit(f"Undo {self.text()}: {one_line(exc)}")


class ApplyReprediction(QUndoCommand):
    """Move the unreviewed landmarks a pinned re-prediction proposed (``app.repredict``), in one step.

    They stay PREDICTED (the model placed them, nobody reviewed them) with the model as the
    source; a landmark a person has reviewed meanwhile is left alone (the store's rule).
    """

    def __init__(self, doc: ProjectDocument, image_id: str, points: dict[str, tuple[float, float]], model_id: str) -> None:
        n = len(points)
        super().__init__(f"Re-predict {n} landmark{'s' if n != 1 else ''}")
        self.doc = doc
        self.image_id = image_id
        self.points = dict(points)
        self.model_id = model_id
        self.before = {name: doc.record(image_id, name) for name in points}
        self.after: dict[str, object] = {}

    def redo(self) -> None:
        from core.project.records import utc_now
        from core.project.transitions import predicted

        try:
            if not self.after:
                now = utc_now()
                for name, (x, y) in self.points.items():
                    old = self.before[name]
                    new = predicted(old, x, y, self.model_id, old.confidence if old.confidence is not None else float("nan"), now)
                    if new is not None:
                        self.after[name] = new
                if not self.after:
                    raise ValueError("every proposed landmark has been reviewed meanwhile")
            for name, record in self.after.items():
                self.doc.apply_restore(self.image_id, name, record, action="repredict")
            self.doc.reveal(self.image_id)
        except Exception as exc:
            self.setObsolete(True)
            self.doc.error_raised.emit(f"{self.text()}: {one_line(exc)}")

    def undo(self) -> None:
        try:
            for name in self.after:
                self.doc.apply_restore(self.image_id, name, self.before[name], action="undo")
            self.doc.reveal(self.image_id)
        except Exception as exc:
            self.doc.error_raised.emit(f"Undo {self.text()}: {one_line(exc)}")


class ImportLandmarks(QUndoCommand):
    """Landmarks from an exchange file, checked beforehand (``core.exchange.plan_file``): one undo step.

    The first ``redo()`` writes each planned record with ``action="import"`` (the
    project's audit log says where the points came from); undo puts every earlier
    record back. Should the store refuse midway, what was written is taken back and
    the command never enters the stack, so an import is all or nothing.
    """

    def __init__(self, doc: ProjectDocument, plan, file_name: str) -> None:
        super().__init__(f"Import {file_name}")
        self.doc = doc
        self.changes = list(plan.changes)
        self.result = plan.result
        self.done = False

    def redo(self) -> None:
        action = "redo" if self.done else "import"
        applied = []
        try:
            for change in self.changes:
                self.doc.apply_restore(change.image_id, change.name, change.after, action=action)
                applied.append(change)
        except Exception as exc:
            for change in reversed(applied):
                self.doc.apply_restore(change.image_id, change.name, change.before, action="undo")
            self.setObsolete(True)
            self.doc.error_raised.emit(f"{self.text()}: {one_line(exc)}; nothing was imported")
            return
        self.done = True

    def undo(self) -> None:
        try:
            for change in reversed(self.changes):
                self.doc.apply_restore(change.image_id, change.name, change.before, action="undo")
        except Exception as exc:
            self.doc.error_raised.emit(f"Undo {self.text()}: {one_line(exc)}")


class SetSpacing(QUndoCommand):
    """Set an image's pixel spacing from a ruler (``core.spacing``); undo restores the one before."""

    def __init__(self, doc: ProjectDocument, image_id: str, spacing: tuple[float, float], note: str) -> None:
        super().__init__("Calibrate spacing")
        self.doc, self.image_id, self.spacing, self.note = doc, image_id, spacing, note
        self.before = doc.image(image_id).spacing

    def redo(self) -> None:
        try:
            self.doc.apply_spacing(self.image_id, self.spacing, self.note)
        except Exception as exc:
            self.setObsolete(True)
            self.doc.error_raised.emit(f"{self.text()}: {one_line(exc)}")

    def undo(self) -> None:
        try:
            self.doc.apply_spacing(self.image_id, self.before, "undo of a calibration")
        except Exception as exc:
            self.doc.error_raised.emit(f"Undo {self.text()}: {one_line(exc)}")
