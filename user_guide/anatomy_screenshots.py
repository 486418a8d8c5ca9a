"""Make the anatomy-check screenshots from the real app (run under a real X server).

    xvfb-run -s "-screen 0 1600x1000x24" python3 user_guide/anatomy_screenshots.py

Opens a JSRT chest radiograph as ``anatomark FILE`` does (a chest6 project), adds an ISBI
cephalogram to it, predicts both and grabs the window with the image list's warning on the
cephalogram, its tooltip text printed (``images/anatomy_flag.png``). Then opens a hand radiograph
with no project: the app asks which landmarks to use (``images/anatomy_ask.png``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import open_window, wait  # noqa: E402  (after QT_API)

OUT = Path(__file__).resolve().parent / "images"


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="anatomark-shots-"))
    os.environ["ANATOMARK_HOME"] = str(home)
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QInputDialog

    from core.resources import shared_data_dir

    data = shared_data_dir()
    chest = data / "chest_jsrt" / "images" / "JPCLN003.png" if data else None
    ceph = data / "ceph_isbi2015" / "images" / "151.jpg" if data else None
    hand = data / "hand_dha" / "images" / "3167.png" if data else None
    if not all(p is not None and p.is_file() for p in (chest, ceph, hand)):
        print("../shared/data (chest_jsrt, ceph_isbi2015, hand_dha) is needed", file=sys.stderr)
        return 2
    app, window = open_window()
    window.open_images([chest])
    while window.jobs.is_running():
        wait(app, 0.05)
    window.open_images([ceph])
    while window.jobs.is_running():
        wait(app, 0.05)
    wait(app, 1.0)
    images = window.findChild(type(window.review_dock), "dock-images")
    images.raise_()
    window.resizeDocks([images, window.landmarks_dock], [520, 420], Qt.Orientation.Horizontal)
    wait(app, 0.5)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "anatomy_flag.png"))
    ceph_id = window.doc.image_ids()[1]
    print(window.doc.anatomy_fit(ceph_id).describe())
    print(window.status.currentMessage())

    window.close_project()
    grabbed = []

    def grab_dialog() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QInputDialog) and widget.isVisible():
                wait(app, 0.3)
                widget.grab().save(str(OUT / "anatomy_ask.png"))
                grabbed.append(widget.labelText())
                widget.reject()
                return
        QTimer.singleShot(100, grab_dialog)

    QTimer.singleShot(100, grab_dialog)
    window.open_images([hand])
    print(grabbed[0] if grabbed else "no dialog")
    window.close()
    return 0 if grabbed else 1


if __name__ == "__main__":
    sys.exit(main())
