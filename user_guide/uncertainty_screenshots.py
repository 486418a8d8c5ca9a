"""Make the uncertainty-regions screenshot from the real app (run under a real X server).

    xvfb-run -s "-screen 0 1600x1000x24" python3 user_guide/uncertainty_screenshots.py

Makes a ``ceph19`` project of one ISBI 2015 test1 cephalogram from the images the bundled
card was *not* calibrated on (226–300; ``SHOT_CEPH`` picks another), predicts it with the
bundled model, switches the heatmaps and the model's intermediate points off and the uncertainty regions
on, zooms on the jaw
and grabs the window (``images/uncertainty_regions.png``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import ceph_project, open_predicted, open_window, wait  # noqa: E402  (after QT_API)
OUT = Path(__file__).resolve().parent / "images"
IMAGE = os.environ.get("SHOT_CEPH", "260")


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="anatomark-shots-"))
    os.environ["ANATOMARK_HOME"] = str(home)
    project_path = ceph_project(home, IMAGE)
    if project_path is None:
        print("the ISBI 2015 cephalograms (../shared/data/ceph_isbi2015) are needed", file=sys.stderr)
        return 2

    app, window = open_window()
    open_predicted(app, window, project_path)
    layers = window.actions.layers
    for key in ("heatmap", "confidence", "soft_argmax", "refined", "displacement"):
        layers[key].setChecked(False)
    layers["uncertainty"].setChecked(True)
    window.doc.select_landmark("Go")
    viewer = window.viewer
    viewer.box.setRange(xRange=(300, 760), yRange=(560, 1060), padding=0.0)
    wait(app, 1.0)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "uncertainty_regions.png"))
    overlay = viewer.overlay("uncertainty")
    print(f"wrote {OUT / 'uncertainty_regions.png'}; regions shown: {overlay.is_shown()}, coverage {overlay.coverage}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
