"""Make the user guide's screenshots from the real app (run under a real X server).

    xvfb-run -s "-screen 0 1600x1000x24" python3 user_guide/screenshots.py

Starts the app as ``anatomark`` does on a first start (a fresh demo project in a
temporary user data folder, predicted by the bundled model), grabs the window, then
drags a landmark with real mouse events and grabs it again. Writes
``user_guide/images/demo_overlays.png`` and ``user_guide/images/corrected_point.png``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import drag, open_window, send_mouse, wait  # noqa: E402  (after QT_API)
OUT = Path(__file__).resolve().parent / "images"


def main() -> int:
    home = tempfile.mkdtemp(prefix="anatomark-shots-")
    os.environ["ANATOMARK_HOME"] = home
    from PySide6.QtCore import QEvent, QPointF, Qt

    from app.demo import open_demo

    app, window = open_window()
    open_demo(window)
    while window.jobs.is_running():
        wait(app, 0.05)
    doc, viewer = window.doc, window.viewer
    doc.select_landmark("R_cardiophrenic")
    window.layers_panel.heatmap_mode.setCurrentIndex(1)  # heatmaps of all landmarks
    wait(app, 1.0)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "demo_overlays.png"))

    # Correct a point the way a user does: press on its marker, drag, release.
    name = os.environ.get("SHOT_LANDMARK", "L_cardiophrenic")
    k = doc.landmark_names().index(name)
    doc.select_landmark(name)
    window.layers_panel.heatmap_mode.setCurrentIndex(0)
    record = doc.record(doc.current_image_id, name)
    target = (record.x + float(os.environ.get("SHOT_DX", "-95")), record.y + float(os.environ.get("SHOT_DY", "-60")))
    viewport = viewer.graphics.viewport()
    viewer.box.updateMatrix()
    start = QPointF(viewer.graphics.mapFromScene(viewer.landmarks.markers[k].scenePos()))
    end = QPointF(viewer.image_to_viewport(*target))

    drag(app, viewport, start, end)

    # Narrow the window with a right-drag (left = more contrast), as a reader would.
    origin = QPointF(viewport.width() * 0.5, viewport.height() * 0.5)
    wl = QPointF(float(os.environ.get("SHOT_WL_DX", "-150")), float(os.environ.get("SHOT_WL_DY", "60")))
    drag(app, viewport, origin, origin + wl, button=Qt.MouseButton.RightButton, steps=10)
    none = Qt.MouseButton.NoButton
    send_mouse(viewport, QEvent.Type.MouseMove, end + QPointF(40, 30), none, none)
    wait(app, 1.5)  # autosave runs
    window.grab().save(str(OUT / "corrected_point.png"))
    print(f"wrote {OUT / 'demo_overlays.png'} and {OUT / 'corrected_point.png'}; undo says: {window.actions.undo.text()!r}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
