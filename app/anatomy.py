"""Which schema new images need: the anatomy check (``core.anatomy``) in the app.

``anatomark FILE…`` and File ▸ Open Images without a project (or from the demo) make a new project;
its schema is the one of the bundled model whose anatomy the first readable image shows. When no
model fits, or the best one only "unsure", the user is asked (``dialogs.ask_schema_for_images``),
with the check's reading as the reason. The models stay loaded for the next time.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from app import dialogs
from app.demo import DEMO_SCHEMA
from core.imaging import ImageLoadError, load_image

_lock = threading.Lock()
_chooser = None
#: Images tried, in order, for one that decodes (the others are reported by the add itself).
TRIED_IMAGES = 3


def chooser():
    """The app's one ``core.anatomy.BundledChooser`` (its models load on first use)."""
    global _chooser
    with _lock:
        if _chooser is None:
            from core.anatomy import BundledChooser

            _chooser = BundledChooser("auto")
        return _chooser


def schema_for_images(parent: QWidget, paths: list[Path]) -> str | None:
    """The schema for a new project of ``paths``, or None when the user cancels. Nothing readable:
    the default schema (the add then names every file it could not read)."""
    for path in paths[:TRIED_IMAGES]:
        try:
            radiograph = load_image(path)
        except ImageLoadError:
            continue
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            prediction, fits = chooser().choose(radiograph)
        except Exception:  # a model that cannot load: the old default, the prediction reports the error
            return DEMO_SCHEMA
        finally:
            QGuiApplication.restoreOverrideCursor()
        if prediction is not None:
            return prediction.schema
        return dialogs.ask_schema_for_images(parent, Path(path).name, fits)
    return DEMO_SCHEMA
