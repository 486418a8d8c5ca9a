"""The open project as a Qt object: selection, undo stack, autosave and past-tense signals.

Views subscribe to the signals and never mutate the project themselves; every edit is a
command (``app.commands``) that calls the ``apply_*`` methods here, which call the
``core.project.Project`` mutators and announce what changed. Errors the user can act on
(corrupt image, locked project, failing save) are announced with ``error_raised`` as one
line; the window shows them in a dialog and stays usable.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from core.imaging import ImageLoadError, Radiograph, load_image
from core.messages import error_line

AUTOSAVE_MS = 1000
_RADIOGRAPH_CACHE = 3


#: An exception as one line fit for a dialog: file names only (``core.messages``).
one_line = error_line


class ProjectDocument(QObject):
    """One open project (or none), the current image and landmark, and the undo stack."""

    project_opened = Signal()
    project_closed = Signal()
    images_changed = Signal()
    image_changed = Signal(str)
    current_image_changed = Signal(str)
    landmark_changed = Signal(str, str)
    current_landmark_changed = Signal(str)
    prediction_stored = Signal(str)
    spacing_changed = Signal(str)  # an image's pixel spacing was set (calibration, undo)
    saved = Signal(str)
    error_raised = Signal(str)
    #: A one-line notice for the status bar (nothing went wrong, but the user should know).
    notice = Signal(str)
    #: A transient status-bar message from a controller (text, milliseconds; 0 = until replaced):
    #: controllers say things through the document, they do not reach into the window.
    status_message = Signal(str, int)

    def __init__(self, parent: QObject | None = None, autosave_ms: int = AUTOSAVE_MS) -> None:
        super().__init__(parent)
        self.project = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(500)
        self.current_image_id: str | None = None
        self.current_landmark: str | None = None
        self.radiograph: Radiograph | None = None
        self._radiographs: OrderedDict[str, Radiograph] = OrderedDict()
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(autosave_ms)
        self._autosave.timeout.connect(self.save)
        # Regions calibrated on the project's reviews, per model id (core.learning.recalibration);
        # any review, prediction or image change makes them stale.
        self._calibrations: dict[str, object] = {}
        for signal in (self.landmark_changed, self.prediction_stored, self.images_changed, self.image_changed,
                       self.project_opened, self.project_closed):
            signal.connect(lambda *_: self._calibrations.clear())
        # Anatomy check per image (core.anatomy), from its stored prediction: computed when first
        # asked (the image list asks per paint), dropped when a prediction or the project changes.
        self._anatomy: dict[str, object] = {}
        self._anatomy_reference: tuple[str, dict | None] | None = None
        for signal in (self.prediction_stored, self.images_changed, self.project_opened, self.project_closed):
            signal.connect(lambda *_: self._anatomy.clear())
        # Spacings read from research data set tables, per image path: ``spacing`` is asked per table
        # cell and per drag step, the table is read once.
        self._table_spacing: dict[str, tuple[float, float] | None] = {}

    # -- project lifecycle -------------------------------------------------------------

    def open_project(self, path: str | Path, user: str | None = None, report: bool = True) -> bool:
        """Open a project file; False (and ``error_raised`` when ``report``) when it cannot be opened.

        A project another running Anatomark holds opens read-only (the store's lock).
        """
        from core.project import Project

        try:
            project = Project.open(Path(path), user=user)
        except Exception as exc:  # ProjectError, OSError, h5py errors: all one line
            if report:
                self.error_raised.emit(f"Cannot open project {Path(path).name}: {one_line(exc)}")
            return False
        self._set_project(project)
        return True

    def create_project(self, path: str | Path, schema, user: str | None = None, overwrite: bool = False) -> bool:
        """Create an empty project with ``schema``; False (and ``error_raised``) on failure."""
        from core.project import Project

        try:
            project = Project.create(Path(path), schema, user=user, overwrite=overwrite)
        except Exception as exc:
            self.error_raised.emit(f"Cannot create project {Path(path).name}: {one_line(exc)}")
            return False
        self._set_project(project)
        return True

    def close_project(self) -> bool:
        """Save (when writable and dirty) and close; True when nothing is left open."""
        if self.project is None:
            return True
        self._autosave.stop()
        ok = self.save() if self.is_editable() and self.project.dirty else True
        try:
            self.project.close()
        except Exception as exc:
            self.error_raised.emit(f"Closing the project failed: {one_line(exc)}")
        self.project = None
        self.undo_stack.clear()
        self.current_image_id = None
        self.current_landmark = None
        self.radiograph = None
        self._radiographs.clear()
        self.project_closed.emit()
        self.current_image_changed.emit("")
        return ok

    def _set_project(self, project) -> None:
        if self.project is not None:
            self.close_project()
        self.project = project
        self.undo_stack.clear()
        self.project_opened.emit()
        self.images_changed.emit()
        first = project.images[0].id if project.images else None
        self.select_image(first)

    # -- images ---------------------------------------------------------------------

    def add_images(self, paths: list[str | Path], sources: dict[str, str] | None = None) -> list[str]:
        """Add image files; returns the new ids. Failures are reported together, one line each.
        ``sources``: str(path) → where the file was fetched from (a PACS), kept in the history."""
        if not self.require_editable():
            return []
        added, failed, already = [], [], []
        known = set(self.image_ids())
        for path in paths:
            try:
                radiograph = load_image(path)  # decoded once: the store and the viewer share it
                image = self.project.add_image(Path(path), radiograph=radiograph,
                                               source=(sources or {}).get(str(path)))
            except Exception as exc:
                failed.append(f"{Path(path).name}: {one_line(exc)}")
                continue
            if image.id in known:  # same content: the store keeps one record
                already.append(f"{Path(path).name} (same content as {Path(image.path).name})")
                continue
            known.add(image.id)
            added.append(image.id)
            self._remember(image.id, radiograph)
        if already:
            self.notice.emit("Already in this project: " + "; ".join(already))
        if added:
            self.images_changed.emit()
            self.schedule_save()
            self.select_image(added[0])
        if failed:
            self.error_raised.emit("Some images could not be added:\n" + "\n".join(failed))
        return added

    def is_demo(self) -> bool:
        """Whether the open project is the bundled demo (new images then go to a project of their own)."""
        from app.paths import demo_project_path

        return self.project is not None and Path(self.project.path).resolve() == demo_project_path().resolve()

    def image_ids(self) -> list[str]:
        return [im.id for im in self.project.images] if self.project is not None else []

    def image(self, image_id: str | None = None):
        """The ``ImageRecord`` of ``image_id`` (default: the current image), or None."""
        image_id = image_id or self.current_image_id
        if self.project is None or image_id is None:
            return None
        return self.project.image(image_id)

    def select_image(self, image_id: str | None) -> None:
        """Make ``image_id`` current and load its pixels (errors: ``error_raised``, no image)."""
        if image_id == self.current_image_id and (image_id is None or self.radiograph is not None):
            return
        self.current_image_id = image_id
        self.radiograph = None
        if image_id is not None:
            try:
                self.radiograph = self.load_radiograph(image_id)
            except ImageLoadError as exc:
                self.error_raised.emit(one_line(exc))
        names = self.landmark_names()
        if self.current_landmark not in names:
            self.current_landmark = names[0] if names else None
            self.current_landmark_changed.emit(self.current_landmark or "")
        self.current_image_changed.emit(image_id or "")

    def load_radiograph(self, image_id: str) -> Radiograph:
        """Pixels of an image, from a small cache; raises ImageLoadError."""
        if image_id in self._radiographs:
            self._radiographs.move_to_end(image_id)
            return self._radiographs[image_id]
        radiograph = load_image(self.project.image(image_id).path)
        self._remember(image_id, radiograph)
        return radiograph

    def _remember(self, image_id: str, radiograph: Radiograph) -> None:
        self._radiographs[image_id] = radiograph
        self._radiographs.move_to_end(image_id)
        while len(self._radiographs) > _RADIOGRAPH_CACHE:
            self._radiographs.popitem(last=False)

    def spacing(self, image_id: str | None = None) -> tuple[float, float] | None:
        """Pixel spacing (x, y) mm of an image (default: current): the project's record first
        (a data set's import may know it when the file does not), then the decoded file's, then the
        table of the research data set the image belongs to (``app.ground_truth``)."""
        image = self.image(image_id)
        if image is not None and image.spacing is not None:
            return tuple(image.spacing)
        radiograph = self._radiographs.get(image_id or self.current_image_id or "")
        if radiograph is not None and radiograph.spacing is not None:
            return radiograph.spacing
        if image is None:
            return None
        if image.path not in self._table_spacing:  # a research data set's table may know it (ISBI: 0.2 mm/px)
            from app.ground_truth import reference_spacing

            self._table_spacing[image.path] = reference_spacing(image.path)
        return self._table_spacing[image.path]

    def loaded_radiograph(self, image_id: str) -> Radiograph | None:
        """The decoded image when it is in the cache (no loading), else None."""
        return self._radiographs.get(image_id)

    def step_image(self, step: int) -> None:
        ids = self.image_ids()
        if not ids:
            return
        i = ids.index(self.current_image_id) if self.current_image_id in ids else -step
        self.select_image(ids[(i + step) % len(ids)])

    # -- landmarks ------------------------------------------------------------------

    def landmark_names(self) -> tuple[str, ...]:
        return tuple(self.project.schema.landmarks) if self.project is not None else ()

    def record(self, image_id: str, name: str):
        """The ``LandmarkRecord`` of one landmark on one image."""
        return self.project.image(image_id).landmarks[name]

    def select_landmark(self, name: str | None) -> None:
        if name == self.current_landmark:
            return
        self.current_landmark = name
        self.current_landmark_changed.emit(name or "")

    def step_landmark(self, step: int) -> None:
        names = self.landmark_names()
        if not names:
            return
        i = names.index(self.current_landmark) if self.current_landmark in names else -step
        self.select_landmark(names[(i + step) % len(names)])

    def reveal(self, image_id: str, name: str | None = None) -> None:
        """Show where an undo/redo acted: its image, then its landmark."""
        if image_id != self.current_image_id:
            self.select_image(image_id)
        if name is not None:
            self.select_landmark(name)

    # -- edits (called by commands) ---------------------------------------------------

    def is_editable(self) -> bool:
        return self.project is not None and not self.project.read_only

    def read_only_reason(self) -> str:
        """One line saying why edits are refused (e.g. who else is editing the project)."""
        reason = getattr(self.project, "read_only_reason", None) if self.project is not None else None
        why = f" ({reason})" if reason else ""
        return f"This project is open read-only{why}: edits are not allowed."

    def require_editable(self) -> bool:
        """True when edits are allowed; otherwise says why (``error_raised``)."""
        if self.project is None:
            self.error_raised.emit("No project is open.")
            return False
        if self.project.read_only:
            self.error_raised.emit(self.read_only_reason())
            return False
        return True

    def push(self, command: QUndoCommand) -> bool:
        """Run ``command`` and put it on the undo stack, unless the project is read-only."""
        if not self.require_editable():
            return False
        self.undo_stack.push(command)
        return True

    def apply_point(self, image_id: str, name: str, x: float, y: float):
        record = self.project.set_point(image_id, name, float(x), float(y))
        self._edited(image_id, name)
        return record

    def apply_state(self, image_id: str, name: str, state):
        record = self.project.set_state(image_id, name, state)
        self._edited(image_id, name)
        return record

    def apply_restore(self, image_id: str, name: str, record, action: str) -> None:
        self.project.restore(image_id, name, record, action=action)
        self._edited(image_id, name)

    def apply_verified(self, image_id: str, verified: bool, by: str | None = None) -> None:
        self.project.set_verified(image_id, bool(verified), by=by)
        self._edited(image_id, None)

    def apply_spacing(self, image_id: str, spacing: tuple[float, float] | None, note: str) -> None:
        """Set an image's pixel spacing (``Project.set_spacing``): mm everywhere follows at once."""
        self.project.set_spacing(image_id, spacing, note)
        self.spacing_changed.emit(image_id)
        self._edited(image_id, None)

    def _edited(self, image_id: str, name: str | None) -> None:
        if name is not None:
            self.landmark_changed.emit(image_id, name)
        self.image_changed.emit(image_id)
        self.schedule_save()

    def store_prediction(self, image_id: str, prediction) -> list[str]:
        """Cache a model's prediction; user edits are never overwritten (the store's rule)."""
        if not self.is_editable() or image_id not in self.image_ids():
            return []
        try:
            names = list(self.project.store_prediction(image_id, prediction))
        except Exception as exc:
            self.error_raised.emit(f"Storing the prediction failed: {one_line(exc)}")
            return []
        for name in names:
            self.landmark_changed.emit(image_id, name)
        self.prediction_stored.emit(image_id)
        self.image_changed.emit(image_id)
        self.schedule_save()
        return names

    def project_calibration(self, model_id: str):
        """``core.learning.recalibration.ProjectCalibration`` of ``model_id`` from this project's reviews,
        or None (too few reviewed images of that model: the bundled calibration applies)."""
        if self.project is None:
            return None
        if model_id not in self._calibrations:
            try:
                from core.learning.recalibration import project_calibration

                self._calibrations[model_id] = project_calibration(self.project, model_id)
            except Exception as exc:  # a damaged cached covariance must not break drawing
                self._calibrations[model_id] = None
                self.error_raised.emit(f"The project's uncertainty calibration could not be computed: {one_line(exc)}")
        return self._calibrations[model_id]

    def anatomy_fit(self, image_id: str):
        """``core.anatomy.AnatomyFit`` of the image's stored prediction against the anatomy of the
        project's schema (the bundled model of that name says what it looks like), or None when
        there is no prediction or nothing to compare with."""
        if self.project is None:
            return None
        if image_id not in self._anatomy:
            from core.anatomy import fit_to_reference, reference_for_schema

            schema = self.project.schema.name
            if self._anatomy_reference is None or self._anatomy_reference[0] != schema:
                self._anatomy_reference = (schema, reference_for_schema(schema))
            reference = self._anatomy_reference[1]
            fit = None
            try:
                stored = self.project.prediction(image_id, heatmaps=False) if reference is not None else None
                if stored is not None:
                    fit = fit_to_reference(np.asarray(stored.points, dtype=np.float64), reference, str(stored.model_id), schema)
            except Exception:  # a damaged cached prediction: no verdict (the queue reports the damage)
                fit = None
            self._anatomy[image_id] = fit
        return self._anatomy[image_id]

    def prediction(self, image_id: str | None = None):
        """The cached prediction of an image (default: current), or None."""
        image_id = image_id or self.current_image_id
        if self.project is None or image_id is None:
            return None
        try:
            return self.project.prediction(image_id)
        except Exception as exc:
            self.error_raised.emit(f"Cannot read the cached prediction: {one_line(exc)}")
            return None

    # -- saving ---------------------------------------------------------------------

    def schedule_save(self) -> None:
        """Autosave about a second after the last edit (a burst of edits saves once)."""
        if self.is_editable():
            self._autosave.start()

    def save(self) -> bool:
        """Save now (atomic in the store); False (and ``error_raised``) when it fails."""
        self._autosave.stop()
        if not self.is_editable():
            return self.project is not None
        try:
            self.project.save()
        except Exception as exc:
            self.error_raised.emit(f"Saving failed, your edits are kept in memory: {one_line(exc)}")
            return False
        self.undo_stack.setClean()
        self.saved.emit(str(self.project.path))
        return True

    def has_pending_save(self) -> bool:
        return self._autosave.isActive()
