"""The Export and Import dialogs: they only ask (STYLE.md "Ask, then do").

What they gather is what ``anatomark export`` and ``anatomark project import --file`` take;
``app.exchange`` hands it to the same ``core.exchange`` functions. The export dialog
anonymises by default: including patient identifiers is an explicit choice, with a
warning, made again for every export (it is never remembered).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.theme import TEXT

#: format -> (menu text, the file filter of a single-file format or None for a folder of files)
EXPORT_CHOICES = {
    "csv": ("CSV table (.csv)", "CSV files (*.csv)"),
    "coco": ("COCO keypoints JSON (.json)", "JSON files (*.json)"),
    "labelme": ("labelme JSON (a folder, one file per image)", None),
    "isbi": ("ISBI 2015 (a folder of .txt files)", None),
    "dicom-sr": ("DICOM Structured Report (a folder, one report per image)", None),
}
IMPORT_CHOICES = {**EXPORT_CHOICES,
                  "dicom-sr": ("DICOM Structured Report (a report, or a folder of reports)", "DICOM files (*.dcm)")}
#: Import formats whose input may be a folder of files.
FOLDER_IMPORTS = ("labelme", "isbi", "dicom-sr")
#: Import ``state`` choices, as ``--state corrected|predicted`` and ``--keep-states`` on the command line.
IMPORT_STATES = {
    "corrected": "Corrected (a person's positions: training data)",
    "predicted": "Predicted (still to review)",
    "file": "As the file says (csv, coco, labelme keep states)",
}
WARNING = ("⚠ The export will contain patient identifiers: the images' original file names (which "
           "often carry a patient's name or ID) and, in DICOM SR, the patient's name, ID, birth date "
           "and study details. Only share it where patient data may go.")
ANONYMISED = ("Images are named by their content id, not their file name; DICOM SR reports carry "
              "pseudonyms (ANON-…) instead of the patient's name and ID.")


@dataclass(frozen=True)
class ExportRequest:
    fmt: str
    out: Path
    reviewed_only: bool = False
    include_identifiers: bool = False


def _default_out(project_path: Path, fmt: str) -> Path:
    stem = Path(project_path).stem
    single = EXPORT_CHOICES[fmt][1]
    return Path(project_path).parent / (f"{stem}_landmarks.{'json' if fmt == 'coco' else 'csv'}" if single
                                        else f"{stem}_{fmt.replace('-', '_')}")


def _radio_pair(first: str, second: str) -> tuple[QRadioButton, QRadioButton, QButtonGroup]:
    a, b = QRadioButton(first), QRadioButton(second)
    group = QButtonGroup()
    group.addButton(a)
    group.addButton(b)
    a.setChecked(True)
    return a, b, group


def _path_row(edit: QLineEdit, *buttons: QPushButton) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    for button in buttons:
        layout.addWidget(button)
    return row


def _buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class ExportDialog(QDialog):
    """Format, destination, which images, and the privacy choice (anonymised unless opted in)."""

    def __init__(self, parent: QWidget | None, project_path: Path, n_images: int, n_reviewed: int,
                 fmt: str = "csv") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Landmarks")
        self.setObjectName("export-dialog")
        self.project_path = Path(project_path)
        self._auto_out = True  # the destination follows the format until the user types one
        self.format = QComboBox()
        for key, (text, _filter) in EXPORT_CHOICES.items():
            self.format.addItem(text, key)
        self.destination = QLineEdit()
        self.destination.textEdited.connect(self._typed)
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        self.all_images, self.reviewed_only, self._images = _radio_pair(
            f"All images ({n_images})", f"Reviewed images only ({n_reviewed})")
        self.reviewed_only.setEnabled(n_reviewed > 0)
        self.anonymise, self.identifiers, self._privacy = _radio_pair(
            "Anonymise (default)", "Include patient identifiers")
        self.anonymised_note = QLabel(ANONYMISED)
        self.warning = QLabel(WARNING)
        for label in (self.anonymised_note, self.warning):
            label.setWordWrap(True)
        self.anonymised_note.setStyleSheet(f"color: {TEXT};")
        self.warning.setStyleSheet("color: #f0a030; font-weight: bold;")
        self.identifiers.toggled.connect(self._privacy_changed)

        form = QFormLayout()
        form.addRow("Format:", self.format)
        form.addRow("Destination:", _path_row(self.destination, self.browse))
        images = QVBoxLayout()
        images.addWidget(self.all_images)
        images.addWidget(self.reviewed_only)
        form.addRow("Images:", images)
        privacy = QVBoxLayout()
        privacy.addWidget(self.anonymise)
        privacy.addWidget(self.identifiers)
        privacy.addWidget(self.anonymised_note)
        privacy.addWidget(self.warning)
        form.addRow("Privacy:", privacy)
        self.buttons = _buttons(self, "Export")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.destination.textChanged.connect(self._update_ok)
        self.format.setCurrentIndex(max(0, self.format.findData(fmt)))
        self._format_changed()
        self._privacy_changed(False)
        self.setMinimumWidth(620)

    def fmt(self) -> str:
        return self.format.currentData()

    def request(self) -> ExportRequest:
        return ExportRequest(self.fmt(), Path(self.destination.text().strip()).expanduser(),
                             self.reviewed_only.isChecked(), self.identifiers.isChecked())

    def _typed(self, _text: str) -> None:
        self._auto_out = False

    def _format_changed(self, *_args) -> None:
        if self._auto_out:
            self.destination.setText(str(_default_out(self.project_path, self.fmt())))
        self._update_ok()

    def _privacy_changed(self, include: bool) -> None:
        self.warning.setVisible(include)
        self.anonymised_note.setVisible(not include)

    def _update_ok(self, *_args) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.destination.text().strip()))

    def _browse(self) -> None:
        current = self.destination.text().strip() or str(self.project_path.parent)
        file_filter = EXPORT_CHOICES[self.fmt()][1]
        if file_filter:
            path, _ = QFileDialog.getSaveFileName(self, "Export To", current, f"{file_filter};;All files (*)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export Into Folder", current)
        if path:
            self._auto_out = False
            self.destination.setText(path)


class ImportDialog(QDialog):
    """Format, file (or folder, for labelme and ISBI) and the state imported points get."""

    def __init__(self, parent: QWidget | None, start_dir: Path, fmt: str = "csv") -> None:
        super().__init__(parent)
        self.setWindowTitle("Import Landmarks")
        self.setObjectName("import-dialog")
        self.start_dir = Path(start_dir)
        self.format = QComboBox()
        for key, (text, _filter) in IMPORT_CHOICES.items():
            self.format.addItem(text, key)
        self.format.setCurrentIndex(max(0, self.format.findData(fmt)))
        self.file = QLineEdit()
        self.browse = QPushButton("File…")
        self.browse.clicked.connect(self._browse_file)
        self.browse_folder = QPushButton("Folder…")
        self.browse_folder.clicked.connect(self._browse_folder)
        self.state = QComboBox()
        for key, text in IMPORT_STATES.items():
            self.state.addItem(text, key)
        note = QLabel("Images are matched to the project's by file name or image id (a DICOM SR by the image "
                      "it references); images that are not "
                      "in the project are skipped and listed. A file with any other problem is refused "
                      "whole. The import is one step: Undo takes it back.")
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Format:", self.format)
        form.addRow("File:", _path_row(self.file, self.browse, self.browse_folder))
        form.addRow("Imported points:", self.state)
        self.buttons = _buttons(self, "Import")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._update)
        self.file.textChanged.connect(self._update)
        self._update()
        self.setMinimumWidth(560)

    def fmt(self) -> str:
        return self.format.currentData()

    def request(self) -> tuple[Path, str, str]:
        """(file or folder, format, state) as ``core.exchange.plan_file`` takes them."""
        return Path(self.file.text().strip()).expanduser(), self.fmt(), self.state.currentData()

    def _update(self, *_args) -> None:
        self.browse_folder.setEnabled(self.fmt() in FOLDER_IMPORTS)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.file.text().strip()))

    def _browse_file(self) -> None:
        file_filter = IMPORT_CHOICES[self.fmt()][1] or ("JSON files (*.json)" if self.fmt() == "labelme"
                                                        else "Text files (*.txt)")
        path, _ = QFileDialog.getOpenFileName(self, "Import From", str(self.start_dir), f"{file_filter};;All files (*)")
        if path:
            self.file.setText(path)

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import From Folder", str(self.start_dir))
        if path:
            self.file.setText(path)
