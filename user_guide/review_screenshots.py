"""Make the review-queue screenshot from the real app (run under a real X server).

    xvfb-run -s "-screen 0 1600x1000x24" python3 user_guide/review_screenshots.py

Makes a ``ceph19`` project of twelve ISBI 2015 test1 cephalograms (``../shared/data/ceph_isbi2015``,
0.2 mm/px), predicts them with the bundled model, presses Q ("Next to review") and grabs the
window with the Review queue panel showing the most urgent image expanded
(``images/review_queue.png``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import ceph_project, open_predicted, open_window, wait  # noqa: E402  (after QT_API)

OUT = Path(__file__).resolve().parent / "images"
IMAGES = [f"{i}" for i in range(151, 163)]


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="anatomark-shots-"))
    os.environ["ANATOMARK_HOME"] = str(home)
    from PySide6.QtCore import Qt

    project_path = ceph_project(home, *IMAGES)
    if project_path is None:
        print("the ISBI 2015 cephalograms (../shared/data/ceph_isbi2015) are needed", file=sys.stderr)
        return 2

    app, window = open_window()
    open_predicted(app, window, project_path, settle=1.0)
    images = window.findChild(type(window.review_dock), "dock-images")
    window.resizeDocks([images, window.landmarks_dock], [520, 420], Qt.Orientation.Horizontal)
    window.resizeDocks([images, window.review_dock], [250, 620], Qt.Orientation.Vertical)
    window.review_panel.tree.setColumnWidth(0, 128)
    window.layers_panel.heatmap_mode.setCurrentIndex(0)
    window.actions.layers["heatmap"].setChecked(True)
    window.actions.next_review.trigger()
    wait(app, 1.0)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "review_queue.png"))
    panel = window.review_panel
    print(panel.summary.text())
    for item in panel.queue.items[:5]:
        print(f"{Path(window.doc.image(item.image_id).path).name}  {item.score:5.1f}  {item.reason}")
    window.doc.save()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
