"""File ▸ Open from PACS… and File ▸ Store Landmarks to PACS…: the dialogs' answers to ``core.dicomweb``.

The same functions as the command line (``anatomark pacs search``, ``project add --dicomweb``,
``project store-sr``). Searches, fetches and stores run off the UI thread; a fetch shows its
progress and can be cancelled (nothing is added then). Fetched images open like local files
(``MainWindow.open_images``: predicted at once), each with its DICOMweb address recorded as its
source. The server's address and user name are remembered between sessions; the password only
for this session, in memory: never in settings, projects or logs.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QSettings, Signal

from app.jobs import BackgroundCall
from app.pacs_dialogs import OpenFromPacsDialog, ServerForm, StoreToPacsDialog
from app.paths import user_data_dir


class PacsController(QObject):
    """Owns the PACS dialogs and their background calls for one window."""

    #: (done, total) images of the study being fetched; emitted from the worker thread.
    fetch_progress = Signal(int, int)
    #: Emitted with the number of reports once they are stored.
    stored = Signal(int)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.doc = window.doc
        self.dialog: OpenFromPacsDialog | None = None
        self._password: str | None = None  # this session only
        self._fetch_for = None  # the project path a running fetch caches its images beside
        self._cancel = threading.Event()
        self.search_call = BackgroundCall("pacs-search", self)
        self.search_call.done.connect(self._found)
        self.search_call.failed.connect(self._failed)
        self.fetch_call = BackgroundCall("pacs-fetch", self)
        self.fetch_call.done.connect(self._fetched)
        self.fetch_call.failed.connect(self._failed)
        self.store_call = BackgroundCall("pacs-store", self)
        self.store_call.done.connect(self._stored)
        self.store_call.failed.connect(lambda message: self.doc.error_raised.emit(f"Storing to the PACS failed: {message}"))
        self.fetch_progress.connect(self._progress)

    # -- server settings ------------------------------------------------------------

    @staticmethod
    def _settings() -> QSettings:
        return QSettings(str(user_data_dir() / "pacs.ini"), QSettings.Format.IniFormat)

    def _fill(self, form: ServerForm) -> None:
        settings = self._settings()
        form.url.setText(str(settings.value("url", "") or ""))
        form.user.setText(str(settings.value("user", "") or ""))
        form.password.setText(self._password or "")

    def _server(self, form: ServerForm):
        """The form's server (DicomWebError for a bad address); remembers address and user, not the password."""
        server = form.server()
        settings = self._settings()
        settings.setValue("url", server.url)  # credentials typed into the URL are dropped here
        settings.setValue("user", server.user or "")
        settings.sync()
        self._password = server.password or server.token
        return server

    # -- open from PACS -------------------------------------------------------------

    def show_open(self) -> OpenFromPacsDialog:
        if self.dialog is None:
            self.dialog = OpenFromPacsDialog(self.window)
            self.dialog.search_button.clicked.connect(self.search)
            self.dialog.open_button.clicked.connect(self.open_selected)
            self.dialog.results.doubleClicked.connect(lambda _index: self.open_selected())
            self.dialog.cancel_button.clicked.connect(self.cancel)
            self._fill(self.dialog.server_form)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def _dialog_server(self):
        """The open dialog's server, or None after saying in the dialog why its address is refused."""
        from core.dicomweb import DicomWebError

        try:
            return self._server(self.dialog.server_form)
        except DicomWebError as exc:
            self.dialog.idle(str(exc), error=True)
            return None

    def search(self) -> bool:
        from core.dicomweb import search_studies

        dialog = self.dialog
        if dialog is None or self.search_call.is_running() or self.fetch_call.is_running():
            return False
        server = self._dialog_server()
        if server is None:
            return False
        filters = dialog.filters()
        dialog.busy(f"Searching {server.url}…")
        return self.search_call.start(lambda: search_studies(server, **filters))

    def _found(self, studies) -> None:
        if self.dialog is not None:
            self.dialog.show_studies(studies)

    def open_selected(self) -> bool:
        """Fetch the selected study (off the UI thread) and open its images when all have arrived."""
        from core.dicomweb import cache_folder, fetch_study

        dialog = self.dialog
        study = dialog.selected_study() if dialog is not None else None
        if study is None or self.fetch_call.is_running() or self.search_call.is_running():
            return False
        server = self._dialog_server()
        if server is None:
            return False
        project = self.doc.project
        editable = project is not None and not project.read_only and not self.doc.is_demo()
        cache = cache_folder(project.path) if editable else user_data_dir() / "pacs"
        self._cancel.clear()
        self._fetch_for = project.path if editable else None  # where the images are cached for
        dialog.busy(f"Fetching study {study.study_date or study.study_uid}…", fetching=True)
        return self.fetch_call.start(lambda: fetch_study(server, study.study_uid, cache,
                                                         progress=self.fetch_progress.emit,
                                                         cancelled=self._cancel.is_set))

    def cancel(self) -> None:
        self._cancel.set()

    def _progress(self, done: int, total: int) -> None:
        if self.dialog is not None and self.fetch_call.is_running():
            self.dialog.set_progress(done, total)

    def _fetched(self, fetched) -> None:
        project = self.doc.project
        if self._fetch_for is not None and (project is None or project.path != self._fetch_for):
            self._failed("The project changed while the study was being fetched; open the study again "
                         "(its images are cached beside the project they were fetched for).")
            return
        paths = [f.path for f in fetched]
        if self.dialog is not None:
            self.dialog.idle(f"Opened {len(paths)} image(s) of the study.")
        self.window.open_images(paths, sources={str(f.path): f.source for f in fetched})

    def _failed(self, message: str) -> None:
        if self.dialog is not None:
            self.dialog.idle(message, error=True)
        else:
            self.doc.error_raised.emit(message)

    # -- store to PACS --------------------------------------------------------------

    def show_store(self) -> StoreToPacsDialog | None:
        project = self.doc.project
        if project is None or not project.images:
            self.doc.error_raised.emit("Open a project with DICOM images first: reports are stored for DICOM images.")
            return None
        n_dicom = sum(self._is_dicom(im.path) for im in project.images)
        dialog = StoreToPacsDialog(self.window, n_dicom, len(project.images) - n_dicom)
        self._fill(dialog.server_form)
        dialog.accepted.connect(lambda: self.store(dialog))
        dialog.open()
        return dialog

    @staticmethod
    def _is_dicom(path: str) -> bool:
        try:
            with open(path, "rb") as fh:
                return fh.read(132)[128:132] == b"DICM"
        except OSError:
            return False

    def store(self, dialog: StoreToPacsDialog) -> bool:
        """Build the reports and store them by STOW-RS, off the UI thread, from a snapshot of the project."""
        from app.exchange import snapshot_of
        from core.dicomweb import DicomWebError, store_datasets
        from core.exchange.dicom_sr import reports

        project = self.doc.project
        if project is None or self.store_call.is_running():
            return False
        try:
            server = self._server(dialog.server_form)
        except DicomWebError as exc:
            self.doc.error_raised.emit(str(exc))
            return False
        import numpy as np

        # heatmaps only of the images that get a report: DICOM ones with a placed point
        snapshot = snapshot_of(project, with_predictions=True,
                               only=lambda im: np.isfinite(im.positions()).any() and self._is_dicom(im.path))
        include, reviewed = dialog.include_identifiers.isChecked(), dialog.reviewed_only.isChecked()

        def run() -> int:
            built, _skipped = reports(snapshot, include, reviewed)
            if not built:
                raise DicomWebError("no DICOM image has a placed landmark: no report to store")
            return len(store_datasets(server, built))

        self._store_target = (server.url, include)
        self.doc.status_message.emit(f"Storing landmark reports at {server.url}…", 0)
        return self.store_call.start(run)

    def _stored(self, count: int) -> None:
        url, include = self._store_target
        who = "with the patients' identifiers" if include else "pseudonymised"
        self.doc.status_message.emit(f"Stored {count} landmark report(s) at {url} ({who})", 8000)
        self.stored.emit(count)

    def shutdown(self) -> None:
        self._cancel.set()
        for call in (self.search_call, self.fetch_call, self.store_call):
            call.shutdown()
