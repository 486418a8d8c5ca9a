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
from dataclasses import replace
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import drag, open_window, wait  # noqa: E402  (after QT_API)
OUT = Path(__file__).resolve().parent / "images"
IMAGE = os.environ.get("SHOT_CEPH", "151")


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="anatomark-shots-"))
    os.environ["ANATOMARK_HOME"] = str(home)
    from PySide6.QtCore import QPointF

    from core.imaging import load_image
    from core.project import Project
    from core.resources import shared_data_dir

    data = shared_data_dir()
    path = data / "ceph_isbi2015" / "images" / f"{IMAGE}.jpg" if data else None
    if path is None or not path.is_file():
        print("the ISBI 2015 cephalograms (../shared/data/ceph_isbi2015) are needed", file=sys.stderr)
        return 2
    project_path = home / "ceph.anatomark"
    with Project.create(project_path, "ceph19") as project:
        project.add_image(path, replace(load_image(path), spacing=(0.2, 0.2)))  # the data set's spacing
        project.save()

    app, window = open_window()
    window.doc.open_project(project_path)
    window.predict_all()
    while window.jobs.is_running():
        wait(app, 0.05)
    wait(app, 0.5)
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
