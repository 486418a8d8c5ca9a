"""File ▸ Import landmarks… and File ▸ Export…: the dialogs' answers to the ``core.exchange`` functions.

Same functions as the command line (``anatomark export``, ``anatomark project
import --file``), no second implementation. An export runs off the UI thread
(a DICOM SR export reads every source header and can take seconds) on a snapshot
of the images, so editing goes on meanwhile and cannot tear the export. An import
is read and checked first (``core.exchange.plan_file``); a refused file shows one
line in a dialog and changes nothing; an accepted one is one undo step
(``app.commands.ImportLandmarks``) and is autosaved like any edit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.commands import ImportLandmarks
from app.document import one_line
from app.exchange_dialogs import ExportDialog, ExportRequest, ImportDialog
from app.jobs import BackgroundCall


@dataclass
class _Snapshot:
    """What an export reads of a project (``core.exchange.export_project`` takes any such object):
    its images, and for DICOM SRs the cached predictions whose heatmaps give the measurements'
    uncertainty (read on the UI thread, the project's only reader and writer)."""

    schema: object
    images: list
    predictions: dict = field(default_factory=dict)

    def prediction(self, image_id: str):
        return self.predictions.get(image_id)


def snapshot_of(project, with_predictions: bool = False, only=None) -> _Snapshot:
    """A copy of what an export or a PACS store reads, safe to use off the UI thread. Predictions
    (their heatmaps are read from the file) only of the images ``only(image)`` accepts, if given."""
    images = copy.deepcopy(list(project.images))
    wanted = [im for im in images if only is None or only(im)] if with_predictions else []
    return _Snapshot(project.schema, images, {im.id: project.prediction(im.id) for im in wanted})


class ExchangeController(QObject):
    """Owns the two dialogs and the background export of one window."""

    #: Emitted with the files written once an export has finished.
    exported = Signal(list)
    #: Emitted with the one-line summary once an import is on the undo stack.
    imported = Signal(str)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.doc = window.doc
        self.export_call = BackgroundCall("export", self)
        self.export_call.done.connect(self._export_done)
        self.export_call.failed.connect(self._export_failed)
        self.dataset_call = BackgroundCall("dataset", self)
        self.dataset_call.done.connect(self._dataset_read)
        self.dataset_call.failed.connect(lambda message: self.doc.error_raised.emit(f"Cannot import the data set: {message}"))
        self._dataset: tuple[Path, str] | None = None
        self.export_dialog: ExportDialog | None = None
        self.import_dialog: ImportDialog | None = None
        self._fmt = {"export": "csv", "import": "csv"}  # the last formats used, offered again
        self._request: ExportRequest | None = None

    # -- export ---------------------------------------------------------------------

    def show_export(self) -> None:
        project = self.doc.project
        if project is None:
            self.doc.error_raised.emit("No project is open.")
            return
        if self.export_call.is_running():
            self.doc.error_raised.emit("An export is still running.")
            return
        images = list(project.images)
        dialog = ExportDialog(self.window, Path(project.path), len(images),
                              sum(im.reviewed for im in images), self._fmt["export"])
        dialog.accepted.connect(lambda: self.export(dialog.request()))
        self.export_dialog = dialog
        dialog.open()

    def export(self, request: ExportRequest) -> bool:
        """Start exporting (off the UI thread); False when nothing was started (reported)."""
        from core.exchange import export_project

        project = self.doc.project
        if project is None or self.export_call.is_running():
            return False
        self._fmt["export"] = request.fmt
        snapshot = snapshot_of(project, with_predictions=request.fmt == "dicom-sr")
        self._request = request
        started = self.export_call.start(lambda: export_project(
            snapshot, request.fmt, request.out, include_identifiers=request.include_identifiers,
            reviewed_only=request.reviewed_only))
        if started:
            self.doc.status_message.emit(f"Exporting {request.fmt} to {request.out.name}…", 0)
        return started

    def is_exporting(self) -> bool:
        return self.export_call.is_running()

    def _export_done(self, written: list) -> None:
        where = written[0].name if len(written) == 1 else f"{len(written)} files in {self._request.out.name}"
        privacy = "with patient identifiers" if self._request.include_identifiers else "anonymised"
        self.doc.status_message.emit(f"Exported {self._request.fmt} ({privacy}) to {where}", 6000)
        self.exported.emit(list(written))

    def _export_failed(self, message: str) -> None:
        self.doc.error_raised.emit(f"Export failed: {message}")

    # -- import ---------------------------------------------------------------------

    def show_import(self) -> None:
        if not self.doc.require_editable():
            return
        dialog = ImportDialog(self.window, Path(self.doc.project.path).parent, self._fmt["import"])
        dialog.accepted.connect(lambda: self.import_file(*dialog.request()))
        self.import_dialog = dialog
        dialog.open()

    def import_file(self, path: Path, fmt: str, state: str = "corrected") -> bool:
        """Check ``path`` against the project, then apply it as one undo step; False when refused."""
        from core.exchange import plan_file

        if not self.doc.require_editable():
            return False
        self._fmt["import"] = fmt
        try:
            plan = plan_file(self.doc.project, path, fmt, state)
        except Exception as exc:  # ExchangeError, and anything unforeseen: one line, nothing changed
            self.doc.error_raised.emit(f"Cannot import {Path(path).name}: {one_line(exc)}")
            return False
        self.doc.push(ImportLandmarks(self.doc, plan, Path(path).name))
        summary = plan.result.summary()
        if plan.result.unmatched:  # the one partial import: say which images were left out
            self.doc.error_raised.emit(f"{Path(path).name}: {summary}")
        else:
            self.doc.status_message.emit(f"{Path(path).name}: {summary} (Undo takes it back)", 6000)
        self.imported.emit(summary)
        return True

    # -- a whole data set ------------------------------------------------------------

    def show_import_dataset(self) -> None:
        """File ▸ Import Dataset…: a folder of images with their annotations into the open project."""
        from app import dialogs

        if self.doc.project is None or self.doc.is_demo():
            self.doc.error_raised.emit("Create or open a project of the data set's landmarks first (File ▸ New Project), "
                                   "then import the data set into it.")
            return
        if not self.doc.require_editable():
            return
        answer = dialogs.ask_dataset(self.window)
        if answer is not None:
            self.import_dataset(*answer)

    def import_dataset(self, folder: Path, fmt: str) -> bool:
        """Read and check the folder off the UI thread (``core.exchange.dataset.read_dataset``); then
        add its images and import their landmarks as one undo step. False when nothing was started."""
        from core.exchange.dataset import read_dataset

        if self.dataset_call.is_running() or not self.doc.require_editable():
            return False
        schema = self.doc.project.schema
        self._dataset = (Path(folder), fmt)
        started = self.dataset_call.start(lambda: read_dataset(folder, fmt, schema))
        if started:
            self.doc.status_message.emit(f"Reading the data set {Path(folder).name} ({fmt})…", 0)
        return started

    def _dataset_read(self, contents) -> None:
        from core.exchange import plan_import

        folder, fmt = self._dataset
        if not self.doc.require_editable():
            return
        added = self.doc.add_images(contents.paths)
        try:
            plan = plan_import(self.doc.project, contents.images, fmt, contents.annotations, "corrected")
        except Exception as exc:  # images stay (like Open Images); their landmarks are refused in one line
            self.doc.error_raised.emit(f"Cannot import the landmarks of {folder.name}: {one_line(exc)}")
            return
        self.doc.push(ImportLandmarks(self.doc, plan, contents.annotations.name))
        self.doc.status_message.emit(f"{folder.name}: {len(added)} image(s) added; {plan.result.summary()} "
                                     f"(Undo takes the landmarks back)", 8000)
        self.imported.emit(plan.result.summary())

    def shutdown(self) -> None:
        self.export_call.shutdown()
        self.dataset_call.shutdown()
