"""The model the open project predicts with: one object the window, training, re-prediction and
the panels ask (``core.learning.active`` answers for the engine, without PyTorch)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal


class ActiveModel(QObject):
    """``path``: the adopted version's weights file, or None while the project uses the installed
    model of its schema (or has none). ``changed`` after a project opens or closes and after an
    adoption."""

    changed = Signal()

    def __init__(self, doc, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.path: str | None = None
        doc.project_opened.connect(self.refresh)
        doc.project_closed.connect(self.clear)

    def refresh(self) -> None:
        """Ask the engine which version the open project uses."""
        from core.learning.active import active_model

        project = self.doc.project
        try:
            current = active_model(project) if project is not None else None
        except Exception:  # an unreadable registry folder: predict with the installed model
            current = None
        self.path = current.model if current is not None and current.adopted else None
        self.changed.emit()

    def clear(self) -> None:
        self.path = None
        self.changed.emit()

    def adopted(self, path: str | None) -> None:
        """A version was adopted: predict with ``path`` from now on (None: ask the engine)."""
        if path:
            self.path = str(path)
            self.changed.emit()
        else:
            self.refresh()

    def for_prediction(self) -> str | None:
        """What to predict with: the adopted file, else the installed model named like the schema
        (a name, so the predictor cache shares it across projects), else None."""
        from core.resources import models_dir

        if self.path and Path(self.path).is_file():
            return self.path
        project = self.doc.project
        if project is not None and (models_dir() / f"{project.schema.name}.pt").is_file():
            return project.schema.name
        return None

    def installed_name(self) -> str | None:
        """Name of the installed model the project predicts with (None for a retrained version)."""
        from core.model_card import read_model_card
        from core.resources import models_dir

        if self.doc.project is None:
            return None
        if not self.path:
            return self.doc.project.schema.name
        try:
            card = read_model_card(self.path)
        except Exception:
            return None
        if card.imported_from:
            return card.imported_from.split("@")[0]
        # v0 is the installed file itself; a retrained version (same name, a project folder) is none of them.
        return card.name if Path(self.path).resolve().parent == models_dir().resolve() else None
