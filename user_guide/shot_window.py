"""Shared by the screenshot scripts in this folder: the app's window as a user first sees it."""

from __future__ import annotations

import time


def wait(app, seconds: float) -> None:
    """Let Qt run for ``seconds`` (painting, queued signals, background jobs' results)."""
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def open_window():
    """(QApplication, MainWindow): themed as ``anatomark`` starts, 1600×1000 and shown.

    Imported late by the scripts, after they point ANATOMARK_HOME at a scratch folder.
    """
    from PySide6.QtWidgets import QApplication

    from app.main import configure_pyqtgraph
    from app.main_window import MainWindow
    from app.theme import apply_dark_theme

    app = QApplication(["anatomark"])
    configure_pyqtgraph()
    apply_dark_theme(app)
    window = MainWindow()
    window.setGeometry(0, 0, 1600, 1000)
    window.show()
    return app, window
