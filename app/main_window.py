"""The main window: image browser, viewer, landmark and layers panels, menus, toolbar, status bar.

It wires signals between the document (``app.document``), the viewer and the panels,
turns gestures into commands (``app.commands``) and runs predictions through
``app.jobs``. It holds no project state of its own.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea

from app import dialogs
from app.actions import build_actions, build_menus, build_toolbar
from app.document import ProjectDocument
from app.editing import EditController
from app.active_model import ActiveModel
from app.exchange import ExchangeController
from app.pacs import PacsController
from app.jobs import PredictionJobs
from app.panels.images import ImagesPanel
from app.panels.landmarks import LandmarksPanel
from app.panels.layers import LayersPanel
from app.panels.measurements import MeasurementsPanel
from app.panels.review import ReviewPanel
from app.paths import new_project_path
from app.repredict import RepredictController
from app.status import StatusBar
from app.training_controller import TrainingController
from app.viewer.frame import frame_from_image
from app.viewer.view import ImageViewer


#: Bumped when the docks change, so a layout saved by an older version is not restored onto them.
LAYOUT_VERSION = 1


def _scrolling(widget):
    """``widget`` in a frameless scroll area: its dock can be made smaller than its content."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


class MainWindow(QMainWindow):
    #: Emitted once a predicted image is on screen (start-up benchmark, screenshots).
    prediction_shown = Signal(str)

    def __init__(self, autosave_ms: int = 1000) -> None:
        super().__init__()
        self.setObjectName("anatomark-main")
        self.doc = ProjectDocument(self, autosave_ms=autosave_ms)
        self.jobs = PredictionJobs(self)
        self.active_model = ActiveModel(self.doc, self)
        self.training = TrainingController(self)
        self.exchange = ExchangeController(self)
        self.pacs = PacsController(self)
        self.viewer = ImageViewer()
        self.errors = dialogs.ErrorBox(self)
        self.repredict = RepredictController(self)
        self.editing = EditController(self)
        self.setCentralWidget(self.viewer)
        self.actions = build_actions(self)
        build_menus(self, self.actions)
        build_toolbar(self, self.actions)
        self.images_panel = ImagesPanel(self.doc)
        self.landmarks_panel = LandmarksPanel(self.doc)
        self.landmarks_panel.add_actions([self.actions.accept, self.actions.mark_absent, self.actions.verify])
        self.landmarks_panel.layout().insertWidget(0, self.repredict.bar)
        self.layers_panel = LayersPanel(self.viewer.overlays, self.actions.layers)
        images = self._dock("Images", self.images_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.review_panel = ReviewPanel(self.doc)
        self.review_dock = self._dock("Review queue", self.review_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        landmarks = self.landmarks_dock = self._dock("Landmarks", self.landmarks_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        layers = self._dock("Layers", _scrolling(self.layers_panel), Qt.DockWidgetArea.RightDockWidgetArea)
        self.train_dock = self._dock("Train", _scrolling(self.training.panel), Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(layers, self.train_dock)
        self.measurements_panel = MeasurementsPanel(self.doc)
        self.measurements_dock = self._dock("Measurements", _scrolling(self.measurements_panel), Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(layers, self.measurements_dock)
        self.measurements_dock.visibilityChanged.connect(lambda shown: shown and self.measurements_panel.refresh_if_stale())
        layers.raise_()
        self.resizeDocks([images, landmarks], [255, 530], Qt.Orientation.Horizontal)
        self._layers_dock = layers
        self._laid_out = False  # the first show splits the right column (showEvent), unless restored
        self.guide = None  # Help ▸ User Guide's window (app.help_browser), made on first use
        self.status = StatusBar(self.actions.cancel)
        self.setStatusBar(self.status)
        self._job_errors: list[str] = []
        self._connect()
        self.editing.connect()
        self._update_title()
        self._update_enabled()
        self.resize(1440, 900)
        self._restore_layout()

    # -- window layout, remembered between sessions ---------------------------------------

    def _layout_settings(self) -> QSettings:
        """Dock sizes and window geometry in the user data folder (``ANATOMARK_HOME`` in tests)."""
        from app.paths import user_data_dir

        return QSettings(str(user_data_dir() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_layout(self) -> None:
        settings = self._layout_settings()
        geometry, state = settings.value("geometry"), settings.value("state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self._laid_out = self.restoreState(state, LAYOUT_VERSION)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._laid_out:  # first start: split the right column once the window has its size
            self._laid_out = True
            QTimer.singleShot(0, self._split_right_column)

    def _split_right_column(self) -> None:
        """The landmark table takes two thirds of the right column (all of ceph19's 19 rows at
        1600×1000); the layers below scroll when they do not fit."""
        total = self.landmarks_dock.height() + self._layers_dock.height()
        self.resizeDocks([self.landmarks_dock, self._layers_dock], [total * 2 // 3, total - total * 2 // 3],
                         Qt.Orientation.Vertical)

    def save_layout(self) -> None:
        settings = self._layout_settings()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("state", self.saveState(LAYOUT_VERSION))
        settings.sync()

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks_menu.addAction(dock.toggleViewAction())
        return dock

    def _connect(self) -> None:
        doc, viewer = self.doc, self.viewer
        doc.error_raised.connect(self.show_error)
        doc.project_opened.connect(self._on_project_changed)
        doc.project_closed.connect(self._on_project_changed)
        doc.project_closed.connect(self.jobs.shutdown)  # results for a closed project have nowhere to go
        doc.current_image_changed.connect(self._show_image)
        doc.prediction_stored.connect(self._on_prediction_stored)
        doc.landmark_changed.connect(self._on_landmark_changed)
        doc.current_landmark_changed.connect(self._on_current_landmark)
        doc.image_changed.connect(lambda _id: self._update_enabled())
        # "Saved" is the least of the bar's news: it never covers a hint the user may be reading.
        doc.saved.connect(lambda path: None if self.status.currentMessage()
                          else self.status.showMessage(f"Saved {Path(path).name}", 3000))
        doc.notice.connect(lambda text: self.status.showMessage(text, 8000))
        doc.status_message.connect(self.status.showMessage)
        doc.undo_stack.cleanChanged.connect(lambda _clean: self._update_title())
        self.review_panel.jumped.connect(self._reveal_landmark)
        viewer.point_dragging.connect(self.landmarks_panel.model.set_preview)
        viewer.point_dragging.connect(self.measurements_panel.set_preview)
        viewer.landmark_clicked.connect(doc.select_landmark)
        viewer.cursor_moved.connect(lambda p: self.status.set_cursor(p, viewer.radiograph, viewer.spacing))
        self.repredict.message.connect(lambda text: self.status.showMessage(text, 5000))
        # A new prediction makes any proposal stale; dropping it also frees Esc for Cancel Prediction.
        self.jobs.started.connect(lambda _n: self.repredict.invalidate())
        viewer.edit_refused.connect(lambda: self.show_error(doc.read_only_reason()))
        viewer.dragger.can_edit = doc.is_editable
        self.jobs.progress.connect(self.status.set_progress)
        self.jobs.predicted.connect(doc.store_prediction)
        self.jobs.failed.connect(lambda _id, message: self._job_errors.append(message))
        self.jobs.finished.connect(self._on_job_finished)

    # -- showing the document ---------------------------------------------------------

    def _on_project_changed(self) -> None:
        self._update_title()
        self._update_enabled()
        self._update_placeholder()
        self.status.read_only.setText("READ-ONLY" if self.doc.project is not None and self.doc.project.read_only else "")
        if self.doc.project is not None and self.doc.project.read_only:
            self.show_error(f"{Path(self.doc.project.path).name}: {self.doc.read_only_reason()}")

    def _update_placeholder(self) -> None:
        """An empty project says how to add images; no project, how to start."""
        from app.viewer.view import EMPTY_PROJECT_TEXT, NO_PROJECT_TEXT

        self.viewer.set_placeholder(NO_PROJECT_TEXT if self.doc.project is None else EMPTY_PROJECT_TEXT)

    def _update_title(self) -> None:
        project = self.doc.project
        if project is None:
            self.setWindowTitle("Anatomark")
            return
        title = f"{Path(project.path).name} — Anatomark"
        if project.read_only:
            reason = getattr(project, "read_only_reason", None)
            title += f"  [read-only: {reason}]" if reason else "  [read-only]"
        elif not self.doc.undo_stack.isClean():
            title = "• " + title
        self.setWindowTitle(title)

    def _update_enabled(self) -> None:
        a, doc = self.actions, self.doc
        has_project, editable = doc.project is not None, doc.is_editable()
        image = doc.image()
        for action in (a.save, a.close_project, a.open_images, a.export):
            action.setEnabled(has_project or action is a.open_images)
        a.import_landmarks.setEnabled(editable)
        for action in (a.predict, a.accept, a.mark_absent, a.verify):
            action.setEnabled(editable and image is not None)
        a.predict_all.setEnabled(editable and bool(doc.image_ids()))
        a.verify.setText("Unverify Image" if image is not None and image.verified else "&Verify Image")
        self.update_training_actions()
        running = self.jobs.is_running()
        a.cancel.setEnabled(running)
        if running:
            a.predict.setEnabled(False)
            a.predict_all.setEnabled(False)

    def update_training_actions(self) -> None:
        a, editable = self.actions, self.doc.is_editable()
        a.train.setEnabled(editable and not self.training.is_running())
        a.versions.setEnabled(self.doc.project is not None)
        a.cancel_training.setEnabled(self.training.is_running())

    def show_train_panel(self) -> None:
        self.train_dock.show()
        self.train_dock.raise_()
        if self.train_dock.height() < 500:  # room for the curves, taken from the landmark table
            total = self.landmarks_dock.height() + self.train_dock.height()
            self.resizeDocks([self.landmarks_dock, self.train_dock], [max(220, total - 520), 520], Qt.Orientation.Vertical)

    def _show_image(self, image_id: str) -> None:
        radiograph = self.doc.radiograph if image_id else None
        self.viewer.set_radiograph(radiograph, spacing=self.doc.spacing() if image_id else None)
        self.rebuild_frame()
        self._update_enabled()

    def rebuild_frame(self) -> None:
        image, radiograph = self.doc.image(), self.viewer.radiograph
        if image is None or radiograph is None:
            self.viewer.set_frame(None)
            self.viewer.set_warning("")
        else:
            prediction = self.doc.prediction(image.id)
            calibration = self.doc.project_calibration(str(prediction.model_id)) if prediction is not None else None
            frame = frame_from_image(self.doc.project.schema, image, prediction, self.doc.current_landmark, radiograph.shape,
                                     calibration)
            self.viewer.set_frame(frame)
            fit = self.doc.anatomy_fit(image.id)
            self.viewer.set_warning("" if fit is None or fit.fits else
                                    f"⚠ May not be a {fit.anatomy} radiograph ({fit.verdict}: see the image list)")
            if prediction is not None:
                self.prediction_shown.emit(image.id)
        self.layers_panel.refresh_availability()

    def _on_prediction_stored(self, image_id: str) -> None:
        if image_id == self.doc.current_image_id:
            self.rebuild_frame()


    def _on_landmark_changed(self, image_id: str, name: str) -> None:
        frame = self.viewer.frame
        if image_id == self.doc.current_image_id and frame is not None and name in frame.names:
            self.viewer.update_point(frame.names.index(name), self.doc.record(image_id, name))

    def _on_current_landmark(self, name: str) -> None:
        self.viewer.set_selected(name or None)

    def _reveal_landmark(self, image_id: str, name: str) -> None:
        """Pan (zoom kept) so a landmark the review queue jumped to is on screen."""
        position = self.doc.record(image_id, name).position
        if position is not None and image_id == self.doc.current_image_id:
            self.viewer.reveal(*position)

    def toggle_heatmap_mode(self) -> None:
        combo = self.layers_panel.heatmap_mode
        combo.setCurrentIndex(1 - combo.currentIndex())

    # -- projects and files -----------------------------------------------------------

    def new_project_dialog(self) -> None:
        from core.schema import available_schemas

        answer = dialogs.ask_new_project(self, available_schemas())
        if answer is not None:  # the file dialog has asked before replacing a file
            self.new_project(*answer, overwrite=True)

    def new_project(self, path: Path, schema_name: str, images: list[Path] | None = None, overwrite: bool = False,
                    sources: dict[str, str] | None = None) -> bool:
        from core.schema import SchemaError, load_schema

        try:
            schema = load_schema(schema_name)
        except SchemaError as exc:
            self.show_error(str(exc))
            return False
        if not self.doc.create_project(path, schema, overwrite=overwrite):
            return False
        if images:
            self.doc.add_images(images, sources)
            self.doc.save()
        return True

    def open_project_dialog(self) -> None:
        path = dialogs.ask_project(self)
        if path is not None:
            self.doc.open_project(path)

    def open_images_dialog(self) -> None:
        paths = dialogs.ask_images(self)
        if paths:
            self.open_images(paths)

    def open_images(self, paths: list[Path], schema_name: str | None = None,
                    sources: dict[str, str] | None = None) -> None:
        """Add images to the open project, or to a new one in the user data folder (also when
        the demo is open: the demo stays a demo) whose schema is ``schema_name``, else the one whose
        anatomy the images show (``app.anatomy``: asks when no bundled model fits). ``sources``: where
        fetched files came from (``app.pacs``)."""
        if self.doc.project is None or self.doc.project.read_only or self._is_demo():
            if schema_name is None:
                from app.anatomy import schema_for_images

                schema_name = schema_for_images(self, list(paths))
                if schema_name is None:
                    return
            if not self.new_project(new_project_path(Path(paths[0]).stem), schema_name, list(paths), sources=sources):
                return
            added = self.doc.image_ids()
        else:
            added = self.doc.add_images(list(paths), sources)
        # New images are predicted straight away, in the background: open, then correct.
        if added and self.doc.is_editable() and self.model_name(quiet=True):
            self._predict(added)

    def _is_demo(self) -> bool:
        return self.doc.is_demo()

    def save(self) -> None:
        self.doc.save()

    def close_project(self) -> None:
        self.jobs.shutdown()
        self.doc.close_project()

    # -- prediction -------------------------------------------------------------------

    def model_name(self, quiet: bool = False) -> str | None:
        """What to predict with (``app.active_model``), or None (with a message unless ``quiet``)."""
        model = self.active_model.for_prediction()
        if model is None and not quiet:
            self.show_error(f"No model for the {self.doc.project.schema.name!r} schema is installed; "
                            f"train one with anatomark train.")
        return model

    def predict_current(self) -> None:
        image = self.doc.image()
        if image is not None:
            self._predict([image.id])

    def predict_all(self) -> None:
        self._predict(self.doc.image_ids())

    def predict_ids(self, image_ids: list[str]) -> None:
        """Predict these images in the background (the images stay usable meanwhile)."""
        self._predict(image_ids)

    def _predict(self, image_ids: list[str]) -> None:
        if not image_ids or not self.doc.require_editable() or self.jobs.is_running():
            return
        model = self.model_name()
        if model is None:
            return
        self._job_errors = []
        # Images already decoded for the viewer go to the model as they are (no second decode).
        # The spacing the project records (the file's): retraining uses the same, so the model is
        # trained and asked at one physical scale (ADR 0006).
        items = [(i, self.doc.loaded_radiograph(i) or Path(self.doc.image(i).path), self.doc.image(i).spacing)
                 for i in image_ids]
        if self.jobs.start(model, items):
            self.status.set_progress(0, len(items), "Starting prediction…")
        self._update_enabled()

    def _on_job_finished(self, cancelled: bool) -> None:
        self.status.show_progress(False)
        self.status.showMessage("Prediction cancelled" if cancelled else "Prediction done", 4000)
        if self._job_errors:
            self.show_error("Prediction failed for:\n" + "\n".join(self._job_errors))
        self._update_enabled()

    # -- misc -------------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        self.status.showMessage(message.splitlines()[0], 6000)
        self.errors.show(message)

    def about(self) -> None:
        dialogs.about(self)

    def _guide(self):
        from app.help_browser import GuideBrowser

        if self.guide is None:
            self.guide = GuideBrowser(self)
        return self.guide

    def show_user_guide(self) -> None:
        """Help ▸ User Guide (F1): the guide's contents page, in a window beside this one."""
        guide = self._guide()
        guide.home()
        guide.show()
        guide.raise_()

    def show_shortcuts(self) -> None:
        """Help ▸ Keyboard Shortcuts: every key of this window, from its live menus."""
        from app.shortcuts import shortcuts_table

        guide = self._guide()
        guide.show_markdown("Keyboard shortcuts", "# Keyboard shortcuts\n\n" + shortcuts_table(self))
        guide.show()
        guide.raise_()

    def closeEvent(self, event) -> None:
        if not self.training.confirm_close():
            event.ignore()
            return
        self.save_layout()
        self.training.shutdown()
        if self.guide is not None:
            self.guide.close()
        self.jobs.shutdown()
        self.repredict.shutdown()
        self.exchange.shutdown()
        self.pacs.shutdown()
        self.errors.close()
        self.doc.close_project()
        super().closeEvent(event)
