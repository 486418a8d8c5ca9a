"""Make the measurements screenshot from the real app (run under a real X server).

    xvfb-run -s "-screen 0 1600x1000x24" python3 user_guide/measurements_screenshots.py

Makes a ``ceph19`` project of one ISBI 2015 test1 cephalogram (``../shared/data/ceph_isbi2015``,
with its 0.2 mm/px spacing), predicts it with the bundled model, corrects A point with real
mouse events and grabs the window with the Measurements panel in front
(``images/measurements_panel.png``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import ceph_project, drag, open_predicted, open_window, wait  # noqa: E402  (after QT_API)
OUT = Path(__file__).resolve().parent / "images"
IMAGE = os.environ.get("SHOT_CEPH", "151")


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="anatomark-shots-"))
    os.environ["ANATOMARK_HOME"] = str(home)
    from PySide6.QtCore import QPointF

    project_path = ceph_project(home, IMAGE)
    if project_path is None:
        print("the ISBI 2015 cephalograms (../shared/data/ceph_isbi2015) are needed", file=sys.stderr)
        return 2

    app, window = open_window()
    open_predicted(app, window, project_path)
    doc, viewer = window.doc, window.viewer
    window.measurements_dock.raise_()
    window.layers_panel.heatmap_mode.setCurrentIndex(1)

    # Correct A point: press on its marker, drag 25 px forward, release.
    k = doc.landmark_names().index("A")
    image = doc.image()
    x, y = image.positions()[k]
    viewport = viewer.graphics.viewport()

    start = QPointF(viewer.image_to_viewport(x, y))
    end = QPointF(viewer.image_to_viewport(x + 25, y))
    drag(app, viewport, start, end, steps=10)
    doc.select_landmark("A")
    wait(app, 1.0)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "measurements_panel.png"))
    for m in window.measurements_panel.values:
        print(m.name, m.text())
    window.doc.save()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
