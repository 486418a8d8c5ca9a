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


def ceph_project(home, *image_ids: str):
    """A ``ceph19`` project in ``home`` with ISBI 2015 cephalograms (``"151"``, …) at the data
    set's 0.2 mm/px.

    Returns the project path, or None when ``../shared/data/ceph_isbi2015`` (or an image) is not there.
    """
    from dataclasses import replace
    from pathlib import Path

    from core.imaging import load_image
    from core.project import Project
    from core.resources import shared_data_dir

    data = shared_data_dir()
    paths = [data / "ceph_isbi2015" / "images" / f"{i}.jpg" for i in image_ids] if data else []
    if not paths or not all(p.is_file() for p in paths):
        return None
    project_path = Path(home) / "ceph.anatomark"
    with Project.create(project_path, "ceph19") as project:
        for path in paths:
            project.add_image(path, replace(load_image(path), spacing=(0.2, 0.2)))
        project.save()
    return project_path


def open_predicted(app, window, project_path, settle: float = 0.5) -> None:
    """Open a project in the window, predict every image and wait until all are shown."""
    window.doc.open_project(project_path)
    window.predict_all()
    while window.jobs.is_running():
        wait(app, 0.05)
    wait(app, settle)


def send_mouse(viewport, kind, pos, button, buttons) -> None:
    """Deliver one mouse event to the viewer's viewport at ``pos`` (viewport coordinates)."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    event = QMouseEvent(kind, pos, QPointF(viewport.mapToGlobal(pos.toPoint())), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def drag(app, viewport, start, end, button=None, steps: int = 20) -> None:
    """Press at ``start``, move in ``steps`` steps to ``end`` and release, as a hand does
    (QPointF viewport coordinates; left button unless told)."""
    from PySide6.QtCore import QEvent, Qt

    button = button or Qt.MouseButton.LeftButton
    none = Qt.MouseButton.NoButton
    send_mouse(viewport, QEvent.Type.MouseMove, start, none, none)
    send_mouse(viewport, QEvent.Type.MouseButtonPress, start, button, button)
    wait(app, 0.05)
    for i in range(1, steps + 1):
        send_mouse(viewport, QEvent.Type.MouseMove, start + (end - start) * (i / steps), none, button)
        wait(app, 0.01)
    send_mouse(viewport, QEvent.Type.MouseButtonRelease, end, button, none)
