"""Dialogs: they only ask; the change itself is a document method or a command (STYLE.md "Ask, then do").

Error messages are one line per problem and never a traceback; the box is window-modal
but not blocking (``open()``), so the app and tests keep running behind it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from app.paths import PROJECT_SUFFIX, user_data_dir
from core.imaging import SUPPORTED_SUFFIXES

IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES) + ");;All files (*)"
PROJECT_FILTER = f"Anatomark projects (*{PROJECT_SUFFIX});;All files (*)"


class ErrorBox:
    """At most one error box per window; a new message while it is open is appended to it."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self.box: QMessageBox | None = None
        self.history: list[str] = []

    def show(self, message: str, title: str = "Anatomark") -> None:
        self.history.append(message)
        if self.box is not None and self.box.isVisible():
            self.box.setText(self.box.text() + "\n" + message)
            return
        self.box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self.parent)
        self.box.open()

    def close(self) -> None:
        if self.box is not None:
            self.box.done(0)
            self.box = None


def schema_choices(schemas: list[str]) -> list[tuple[str, str]]:
    """(label, name) per schema: its title and landmark count, and whether a bundled model predicts it."""
    from core.resources import models_dir
    from core.schema import SchemaError, load_schema

    out = []
    for name in schemas:
        try:
            schema = load_schema(name)
        except SchemaError:
            continue
        model = "bundled model predicts it" if (models_dir() / f"{name}.pt").is_file() else "no bundled model: you place the points, then train"
        title = getattr(schema, "title", "") or ""
        if "landmark" not in title:
            title = f"{title}, {schema.n_landmarks} landmarks".lstrip(", ")
        out.append((f"{name} — {title} ({model})", name))
    return out


def ask_new_project(parent: QWidget, schemas: list[str]) -> tuple[Path, str] | None:
    """(path, schema name) for a new project, or None when the user cancels."""
    choices = schema_choices(schemas)
    if not choices:
        return None
    labels = [label for label, _ in choices]
    names = [name for _, name in choices]
    default = names.index("chest6") if "chest6" in names else 0
    label, ok = QInputDialog.getItem(parent, "New Project", "Landmark schema (what will be marked on each image):",
                                     labels, default, False)
    if not ok:
        return None
    schema = names[labels.index(label)]
    path, _ = QFileDialog.getSaveFileName(parent, "New Project", str(user_data_dir() / f"untitled{PROJECT_SUFFIX}"), PROJECT_FILTER)
    if not path:
        return None
    if not path.endswith(PROJECT_SUFFIX):
        path += PROJECT_SUFFIX
    return Path(path), schema


def ask_schema_for_images(parent: QWidget, image_name: str, fits: list) -> str | None:
    """The schema for a new project when the anatomy check cannot decide (``core.anatomy``): the
    user picks one, the closest bundled anatomy first; None when they cancel."""
    from core.schema import available_schemas

    choices = schema_choices(available_schemas())
    if not choices:
        return None
    labels = [label for label, _ in choices]
    names = [name for _, name in choices]
    closest = fits[0] if fits else None
    if closest is None:
        reason = f"No bundled model can check what {image_name} shows."
    else:
        reason = (f"{image_name} does not look like a radiograph any bundled model was made for: the closest is "
                  f"{closest.anatomy}, and its model's points {closest.points_phrase} that layout ({closest.ratio:.1f}× "
                  f"as far from it as the farthest training image).")
    default = names.index(closest.anatomy) if closest is not None and closest.anatomy in names else 0
    import textwrap

    label, ok = QInputDialog.getItem(parent, "Which landmarks?", textwrap.fill(reason, 80) + "\n\nLandmark schema for the new project:",
                                     labels, default, False)
    return names[labels.index(label)] if ok else None


def ask_ruler_length(parent: QWidget, pixels: float) -> float | None:
    """The known length (mm) between the two marks of a spacing calibration, or None (cancelled)."""
    value, ok = QInputDialog.getDouble(parent, "Calibrate Spacing",
                                       f"The two marks are {pixels:.1f} px apart. Their real distance in mm:",
                                       10.0, 0.0, 10_000.0, 2)
    return value if ok else None


def ask_dataset(parent: QWidget) -> tuple[Path, str] | None:
    """(folder, format) of a data set to import (images beside COCO/CSV/labelme/ISBI annotations), or None."""
    folder = QFileDialog.getExistingDirectory(parent, "Import Dataset: the folder with the images and annotations")
    if not folder:
        return None
    formats = ["coco", "labelme", "isbi", "csv"]
    labels = ["COCO keypoints (one .json)", "labelme (one .json per image)", "ISBI 2015 (one .txt per image)",
              "CSV (one table)"]
    label, ok = QInputDialog.getItem(parent, "Import Dataset", "Annotation format:", labels, 0, False)
    return (Path(folder), formats[labels.index(label)]) if ok else None


def ask_project(parent: QWidget) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open Project", str(user_data_dir()), PROJECT_FILTER)
    return Path(path) if path else None


def ask_images(parent: QWidget) -> list[Path]:
    paths, _ = QFileDialog.getOpenFileNames(parent, "Open Images", "", IMAGE_FILTER)
    return [Path(p) for p in paths]


def about(parent: QWidget) -> None:
    from core import __version__

    QMessageBox.about(
        parent,
        "About Anatomark",
        f"<b>Anatomark {__version__}</b><br>Anatomical landmarks on X-rays: predict, review, correct, retrain."
        "<br><br><b>Research use, not for clinical decisions.</b><br>MIT licence.",
    )
