"""Screenshot of the segmentation-mask layer, from the real app (run under a real X server).

    xvfb-run -s "-screen 0 1600x1000x24" python3 user_guide/mask_screenshots.py MODEL IMAGE [OUT.png]

Opens IMAGE in a fresh project (predicted by the bundled model, as on any start), switches
to MODEL as a user does (Model ▸ Use Bundled Model for a bundled name such as ``chest6-seg``;
a .pt path, e.g. one made by ``anatomark experiment --config segnet``, is used directly),
which predicts again, hides the clavicles with their box in the Layers panel, hides the
heatmaps and grabs the window (SHOT_HIDE: the comma-separated classes to hide). Default OUT:
``user_guide/images/segmentation_masks.png``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import open_window, wait  # noqa: E402  (after QT_API)

OUT = Path(__file__).resolve().parent / "images" / "segmentation_masks.png"


def main(argv: list[str]) -> int:
    model, image = argv[0], Path(argv[1]).resolve()
    out = Path(argv[2]) if len(argv) > 2 else OUT
    os.environ["ANATOMARK_HOME"] = tempfile.mkdtemp(prefix="anatomark-shots-")
    app, window = open_window()
    window.open_images([image])
    while window.jobs.is_running():
        wait(app, 0.05)
    if model.endswith(".pt"):
        window.training.model_path = str(Path(model).resolve())  # as adopting a trained model does
        window.predict_current()
    else:
        window.training.use_bundled(model)  # Model ▸ Use Bundled Model ▸ MODEL
    wait(app, 0.2)
    while window.jobs.is_running():
        wait(app, 0.05)
    wait(app, 0.5)
    window.layers_panel.checks["heatmap"].setChecked(False)  # the masks alone, under the points
    toggles = window.layers_panel.mask_classes
    for name in os.environ.get("SHOT_HIDE", "right_clavicle,left_clavicle").split(","):
        if name in toggles.checks:
            toggles.checks[name].setChecked(False)
    wait(app, 1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))
    print(f"wrote {out}; mask classes: {list(toggles.checks)}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
