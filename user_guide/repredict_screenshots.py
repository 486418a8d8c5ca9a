"""Make the re-prediction screenshot from the real app (run under a real X server).

    xvfb-run -s "-screen 0 1600x1000x24" python3 user_guide/repredict_screenshots.py

Starts the demo (the bundled chest DICOM predicted by the bundled model), drags the left
cardiophrenic angle with real mouse events, waits for the background re-prediction and grabs
the window with its proposal (``images/repredict_preview.png``), zoomed on the right apex with
the uncertainty and heatmap layers off.
Exits 1 when the model proposes nothing (then there is no preview to show).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import drag, open_window, wait  # noqa: E402  (after QT_API)
OUT = Path(__file__).resolve().parent / "images"


def main() -> int:
    os.environ["ANATOMARK_HOME"] = tempfile.mkdtemp(prefix="anatomark-shots-")
    from PySide6.QtCore import QPointF

    from app.demo import open_demo

    app, window = open_window()
    open_demo(window)
    while window.jobs.is_running():
        wait(app, 0.05)
    doc, viewer = window.doc, window.viewer
    name = "L_cardiophrenic"
    k = doc.landmark_names().index(name)
    record = doc.record(doc.current_image_id, name)
    viewport = viewer.graphics.viewport()
    viewer.box.updateMatrix()
    start = QPointF(viewer.graphics.mapFromScene(viewer.landmarks.markers[k].scenePos()))
    end = QPointF(viewer.image_to_viewport(record.x - 95.0, record.y - 60.0))

    drag(app, viewport, start, end)
    deadline = time.time() + 120
    while window.repredict.proposal is None and time.time() < deadline:
        wait(app, 0.05)
    if window.repredict.proposal is None:
        print("the model proposed no move: no preview to grab", file=sys.stderr)
        window.close()
        return 1
    # The proposal is about a pixel: zoom in until its ring and arrow stand apart from the marker.
    apex = doc.record(doc.current_image_id, "R_apex")
    viewer.box.setRange(xRange=(apex.x - 12, apex.x + 12), yRange=(apex.y - 10, apex.y + 10), padding=0)
    for key in ("uncertainty", "heatmap"):  # layers that would cover the small rings at this zoom
        if key in window.actions.layers:
            window.actions.layers[key].setChecked(False)
    wait(app, 1.0)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "repredict_preview.png"))
    _image_id, proposed = window.repredict.proposal
    print(f"wrote {OUT / 'repredict_preview.png'}; proposed: {', '.join(proposed)}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
