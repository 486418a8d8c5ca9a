"""The PACS dialogs' widgets: File ▸ Open from PACS… (server, search form, studies, progress) and
File ▸ Store Landmarks to PACS…. Views only: ``app.pacs.PacsController`` runs the calls."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.dicomweb import Server, StudySummary

#: Modalities offered in the search (typed ones work too); radiographs are CR and DX.
MODALITIES = ("", "CR", "DX", "MG", "RF", "XA")
COLUMNS = ("Date", "Patient ID", "Patient name", "Modality", "Images", "Description")


class ServerForm(QGroupBox):
    """DICOMweb root, user and password. The password field is never saved (see PacsController)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Server", parent)
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://pacs.example:8042/dicom-web")
        self.user = QLineEdit()
        self.user.setPlaceholderText("(none)")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("kept for this session only, never saved")
        self.password.setToolTip("With a user: the password. Without one: an OAuth bearer token (cloud archives).")
        form = QFormLayout(self)
        form.addRow("DICOMweb URL:", self.url)
        form.addRow("User:", self.user)
        form.addRow("Password or token:", self.password)

    def server(self) -> Server:
        """The server typed in; DicomWebError (one line) for an address that is not http(s). Without a
        user the secret field is a bearer token."""
        server = Server.parse(self.url.text(), self.user.text().strip() or None)  # a user may be in the URL
        secret = self.password.text() or None
        if secret is None:
            return server
        if server.user:
            return Server(server.url, server.user, secret)
        return Server(server.url, None, None, secret)


class OpenFromPacsDialog(QDialog):
    """Search a PACS and open a study's images into the project."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.setObjectName("pacs-dialog")
        self.server_form = ServerForm()
        self.patient_id = QLineEdit()
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("DOE* (wildcards * and ?)")
        self.study_date = QLineEdit()
        self.study_date.setPlaceholderText("YYYYMMDD or YYYYMMDD-YYYYMMDD")
        self.modality = QComboBox()
        self.modality.setEditable(True)
        self.modality.addItems(MODALITIES)
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        search = QGroupBox("Search")
        form = QFormLayout(search)
        form.addRow("Patient ID:", self.patient_id)
        form.addRow("Patient name:", self.patient_name)
        form.addRow("Study date:", self.study_date)
        form.addRow("Modality:", self.modality)
        form.addRow("", self.search_button)
        self.results = QTableWidget(0, len(COLUMNS))
        self.results.setHorizontalHeaderLabels(COLUMNS)
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.results.horizontalHeader().setStretchLastSection(True)
        self.results.verticalHeader().setVisible(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel("Type the server's DICOMweb address and search.")
        self.message.setWordWrap(True)
        self.message.setObjectName("pacs-message")
        self.open_button = QPushButton("Open Study")
        self.open_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel Fetch")
        self.cancel_button.setVisible(False)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.close_button)
        top = QHBoxLayout()
        top.addWidget(self.server_form, 1)
        top.addWidget(search, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.studies: list[StudySummary] = []
        self.results.itemSelectionChanged.connect(self._selection_changed)
        self.resize(900, 560)

    def filters(self) -> dict[str, str]:
        """The search form as ``core.dicomweb.search_studies`` keywords."""
        return {"patient_id": self.patient_id.text(), "patient_name": self.patient_name.text(),
                "study_date": self.study_date.text(), "modality": self.modality.currentText()}

    def show_studies(self, studies: list[StudySummary]) -> None:
        self.studies = list(studies)
        self.results.setRowCount(len(studies))
        for row, s in enumerate(studies):
            date = f"{s.study_date[:4]}-{s.study_date[4:6]}-{s.study_date[6:]}" if len(s.study_date) == 8 else s.study_date
            values = (date, s.patient_id, s.patient_name.replace("^", " "), "/".join(s.modalities),
                      "?" if s.n_images is None else str(s.n_images), s.description)
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(f"Study {s.study_uid}")
                self.results.setItem(row, col, item)
        if studies:
            self.results.selectRow(0)
        self.idle(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found." if studies
                  else "No study matches.")

    def selected_study(self) -> StudySummary | None:
        rows = self.results.selectionModel().selectedRows()
        return self.studies[rows[0].row()] if rows and rows[0].row() < len(self.studies) else None

    def busy(self, text: str, fetching: bool = False) -> None:
        """A call runs: say what, block starting another; a fetch shows its progress and Cancel."""
        self.message.setText(text)
        self.message.setStyleSheet("")
        self.search_button.setEnabled(False)
        self.open_button.setEnabled(False)
        self.progress.setVisible(fetching)
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(fetching)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.message.setText(f"Fetching image {done} of {total}…")

    def idle(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #ff8a80;" if error else "")
        self.search_button.setEnabled(True)
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._selection_changed()

    def _selection_changed(self) -> None:
        self.open_button.setEnabled(self.selected_study() is not None and self.search_button.isEnabled())


class StoreToPacsDialog(QDialog):
    """Where to store the landmark reports, and whether they carry the patient's identifiers."""

    def __init__(self, parent: QWidget | None, n_dicom: int, n_other: int) -> None:
        super().__init__(parent)
        self.setWindowTitle("Store Landmarks to PACS")
        self.server_form = ServerForm()
        self.include_identifiers = QCheckBox("Include the patient's identifiers (the reports file with the "
                                             "patient's study; otherwise under a pseudonym patient)")
        self.reviewed_only = QCheckBox("Reviewed images only")
        what = f"{n_dicom} DICOM image(s) get a DICOM SR measurement report (TID 1500)"
        if n_other:
            what += f"; {n_other} image(s) that are not DICOM are left out"
        note = QLabel(what + ".")
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Store")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.server_form)
        layout.addWidget(note)
        layout.addWidget(self.include_identifiers)
        layout.addWidget(self.reviewed_only)
        layout.addWidget(self.buttons, alignment=Qt.AlignmentFlag.AlignRight)
        self.setMinimumWidth(560)
