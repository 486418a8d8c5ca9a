"""Wires retraining into the window: the Train panel, the training subprocess, the report,
adopting or restoring a version, and which model the window predicts with.

The project stays open and editable while the subprocess trains (it reads the saved file);
nothing changes for the window until the user adopts a version from the report or the
versions dialog. Adopting calls ``core.learning.adopt`` on the window's open project (the
window holds the project's lock, so ``anatomark adopt`` could not write it), points the
window's predictions at the adopted model file (the predictor cache reloads when the path
changes) and predicts every image again in the background (reviewed points stay; the landmark
table shows the new prediction's distance to them).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from app.panels.train import TrainPanel
from app.training import TrainingRun, training_set_size
from app.training_dialogs import ReportDialog, VersionsDialog


class TrainingController(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.doc = window.doc
        self.run = TrainingRun(self)
        self.panel = TrainPanel()
        #: ``(project) -> [version rows]`` and ``(project, version, force) -> dict``: the engine's
        #: registry, in this process (tests replace them).
        self.list_fn = list_versions
        self.adopt_fn = adopt_version
        self.active = window.active_model  # the model the project predicts with (app.active_model)
        self.report: ReportDialog | None = None
        self.versions: VersionsDialog | None = None
        self._last_error = ""
        self.panel.start_requested.connect(self.start)
        self.panel.cancel_requested.connect(self.cancel)
        self.run.started.connect(self.panel.on_started)
        self.run.epoch.connect(self.panel.on_epoch)
        self.run.failed.connect(self._on_failed)
        self.run.finished.connect(self._on_finished)
        for signal in (self.doc.project_opened, self.doc.images_changed, self.doc.image_changed):
            signal.connect(self._refresh_data)
        self.doc.project_opened.connect(self._on_project_opened)
        self.doc.project_closed.connect(self._on_project_closed)
        self._refresh_data()
        QTimer.singleShot(300, self.panel.refresh_devices)  # imports PyTorch: after the window shows

    # -- starting and stopping --------------------------------------------------------

    def is_running(self) -> bool:
        return self.run.is_running()

    def start(self, options) -> bool:
        """Save the project and start training on it in a subprocess (False: refused, says why)."""
        doc = self.doc
        if self.run.is_running():
            self.doc.status_message.emit("Training is already running", 3000)
            return False
        if not doc.require_editable():
            return False
        try:  # the trainer opens the project read-only: choose (or top up) the locked validation subset here
            from core.learning.selection import prepare_validation

            prepare_validation(doc.project)
        except Exception:
            pass  # no reviewed images yet: the trainer says so
        if not doc.save():
            return False
        self._last_error = ""
        options = replace(options, project=str(Path(doc.project.path)), resume=self._offer_resume())
        if not self.run.start(options):
            return False
        self.panel.set_running(True)
        self.panel.reset_curves()
        self.panel.status.setText("Starting the trainer…")
        self.panel.progress.setRange(0, 0)
        self.doc.status_message.emit("Training started: keep reviewing meanwhile", 4000)
        self.window.update_training_actions()
        return True

    def _offer_resume(self) -> bool:
        """When a training of this project was killed (crash, power cut), ask whether to carry on
        with it; True to resume. Starting afresh lets the new run delete its leftovers."""
        try:
            from core.learning import ModelRegistry
            from core.learning.interrupted import interrupted_run

            from core.learning import training_split

            project = self.doc.project
            run = interrupted_run(ModelRegistry(project.path, project.schema.name))
            # Offer only what the engine would accept: the same training images (else a "Yes" would cost
            # the checkpoints for nothing; a new run clears them instead).
            fits = run is not None and run.train_ids == [s.id for s in training_split(project)[0]]
        except Exception:
            return False  # nothing readable to resume: a fresh run
        if run is None or not fits:
            return False
        done = ", ".join(run.stages_done) or "none"
        answer = self.ask_resume(f"A training of this project started {run.started or 'earlier'} was interrupted "
                                 f"(stages finished: {done}).\n\nResume it from its last checkpoint, with its settings? "
                                 f"No starts a new training and deletes the interrupted one.")
        return answer

    def ask_resume(self, text: str) -> bool:
        """Yes/No question (tests replace it)."""
        answer = QMessageBox.question(self.window, "Resume the interrupted training?", text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def cancel(self) -> None:
        if self.run.is_running():
            self.panel.status.setText("Stopping…")
            self.run.cancel()

    def confirm_close(self) -> bool:
        """When training runs, ask whether to stop it; True when the window may close."""
        if not self.run.is_running():
            return True
        answer = QMessageBox.question(self.window, "Training is running",
                                      "Training is still running. Stop it and quit?\n\nThe current model stays as it is.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.run.shutdown()
        return True

    def shutdown(self) -> None:
        self.run.shutdown()
        for dialog in (self.report, self.versions):
            if dialog is not None:
                dialog.done(0)

    def _on_failed(self, message: str) -> None:
        self._last_error = message
        self.doc.error_raised.emit(f"Training failed: {message}")

    def _on_finished(self, status: str) -> None:
        self.panel.on_finished(status, self._last_error)
        self.window.update_training_actions()
        if status == "cancelled":
            self.doc.status_message.emit("Training cancelled: the current model is unchanged", 5000)
        elif status == "done" and self.run.result is not None:
            self.show_report(self.run.result)

    # -- report, adopt, versions ------------------------------------------------------

    def show_report(self, result: dict) -> ReportDialog:
        """The before/after report, window-modal but not blocking; adopting happens on accept."""
        if self.report is not None:
            self.report.done(0)
        result = dict(result)
        result["worse_images"] = [self._named(entry) for entry in result.get("worse_images") or []]
        self.report = ReportDialog(result, self.window)
        self.report.accepted.connect(lambda r=self.report: self.adopt(r.result.get("version"), r.decision == "force",
                                                                      r.result.get("model_path")))
        self.report.open()
        return self.report

    def adopt(self, version: str | None, force: bool = False, model_path: str | None = None) -> bool:
        """Make ``version`` the project's current model, predict with it and predict every image again."""
        doc = self.doc
        if not version or not doc.require_editable():
            return False
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # both models are measured on the validation images
        try:
            result = self.adopt_fn(doc.project, version, force) or {}
            doc.save()
            path = result.get("model_path") or model_path
        except Exception as exc:  # AdoptionRefused, RegistryError, model file errors: one line
            self.doc.error_raised.emit(f"{version} was not adopted: {' '.join(str(exc).split())}")
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.active.adopted(path)
        self.panel.status.setText(f"Using {version}")
        self.doc.status_message.emit(f"Adopted {version}: images are predicted again with it", 5000)
        # Every image: unreviewed landmarks take the new prediction; reviewed ones keep the user's
        # points and the landmark table shows the new prediction's distance to them (core.review.agreement).
        self.window.predict_ids(doc.image_ids())
        self._refresh_versions()
        return True

    # -- another bundled model -----------------------------------------------------------

    def bundled_models(self) -> list:
        """Cards (``ModelCard``) of the installed models for the open project's schema (e.g. chest6, chest6-seg)."""
        from core.model_card import ModelCard
        from core.model_card import list_models

        if self.doc.project is None:
            return []
        schema = self.doc.project.schema.name
        cards = [ModelCard.parse(c, str(c.get("name"))) for c in list_models() if "error" not in c]
        cards = [c for c in cards if c.schema_name == schema]
        return sorted(cards, key=lambda c: (c.name != schema, c.name))  # the schema's default first

    def fill_bundled_menu(self, menu) -> None:
        """Model ▸ Use Bundled Model: one checkable entry per model of the schema, the one in use checked."""
        menu.clear()
        cards = self.bundled_models()
        if not cards:
            menu.addAction("No other model for this schema").setEnabled(False)
            return
        in_use = self.active.installed_name()
        for card in cards:
            segments = " · draws masks" if card.mask_classes else ""
            action = menu.addAction(f"{card.name} — {card.family}{segments}")
            action.setToolTip(card.title)
            action.setCheckable(True)
            action.setChecked(card.name == in_use)
            action.setEnabled(self.doc.is_editable())
            action.triggered.connect(lambda _checked=False, name=card.name: self.use_bundled(name))

    def use_bundled(self, name: str) -> bool:
        """Predict with another installed model of the schema: it becomes a project version (the
        schema's own bundled model is ``v0``) and is adopted like a restored version, so the Versions
        dialog can go back; every image is predicted again."""
        from core.learning import ModelRegistry

        doc = self.doc
        if doc.project is None or not doc.require_editable():
            return False
        try:
            version = "v0" if name == doc.project.schema.name else ModelRegistry(doc.project.path, doc.project.schema.name).import_model(name)
        except Exception as exc:
            self.doc.error_raised.emit(f"Cannot use {name}: {' '.join(str(exc).split())}")
            return False
        return self.adopt(version, force=True)

    def _named(self, entry):
        """A worse image's entry with its file name (the engine reports image ids)."""
        if isinstance(entry, dict) and "name" not in entry and self.doc.project is not None:
            try:
                entry = dict(entry, name=Path(self.doc.image(entry.get("id")).path).name)
            except Exception:
                pass
        return entry

    def list_versions(self) -> list[dict]:
        return self.list_fn(self.doc.project)

    def show_versions(self) -> VersionsDialog | None:
        if self.doc.project is None:
            self.doc.error_raised.emit("No project is open.")
            return None
        try:
            listing = self.list_versions()
        except Exception as exc:
            self.doc.error_raised.emit(f"Cannot list the model versions: {exc}")
            return None
        if self.versions is not None:
            self.versions.done(0)
        self.versions = VersionsDialog(listing, self.window)
        self.versions.accepted.connect(lambda d=self.versions: self.adopt(d.chosen, force=True, model_path=d.chosen_path))
        self.versions.open()
        return self.versions

    # -- the project's model --------------------------------------------------------------

    def _on_project_opened(self) -> None:
        self._refresh_versions()

    def _refresh_versions(self) -> None:
        try:
            rows = self.list_versions() if self.doc.project is not None else []
        except Exception:
            rows = []
        self.panel.set_versions([r["version"] for r in rows if not r.get("current") and r.get("version") != "v0"])

    def _on_project_closed(self) -> None:
        self.run.shutdown()
        self._refresh_data()

    def _refresh_data(self, *_args) -> None:
        self.panel.set_training_data(*training_set_size(self.doc.project))


def list_versions(project) -> list[dict]:
    """The project's model versions (``core.learning.version_rows``)."""
    from core.learning import version_rows

    return version_rows(project)


def adopt_version(project, version: str, force: bool) -> dict:
    """``core.learning.adopt`` without its re-prediction (the window re-predicts in the background)."""
    from core.learning import adopt

    return adopt(project, version, force=force, device="cpu", predict=False)

