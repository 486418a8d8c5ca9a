"""``anatomark --smoke-test``: prove an install (or a standalone bundle) works end to end.

It starts the real window, opens the demo project (the bundled JPEG 2000 chest DICOM)
in a scratch data folder, lets the bundled ``chest6`` model predict it in the background,
prints one JSON line and exits: 0 once a prediction with finite points is on screen, 1
at the first error the window shows (its message is the reason) or after a timeout. Used by
``packaging/smoke_test_bundle.sh`` on a machine without Python; any user can run it too
(``QT_QPA_PLATFORM=offscreen`` where there is no display).
"""

from __future__ import annotations

import json
import os
import tempfile
import time

import numpy as np

#: Long enough for a cold start on a slow CPU (PyTorch's import alone takes seconds).
TIMEOUT_S = 180.0


def summary(window, started: float) -> dict:
    """What the smoke test reports about the window's current image."""
    from core.frozen import is_frozen

    doc = window.doc
    image, prediction = doc.image(), doc.prediction()
    points = np.asarray(prediction.points, dtype=float) if prediction is not None else np.empty((0, 2))
    radiograph = window.viewer.radiograph
    return {
        "ok": prediction is not None and points.size > 0 and bool(np.isfinite(points).all()),
        "image": os.path.basename(str(image.path)) if image is not None else None,
        "image_size": list(radiograph.shape[:2]) if radiograph is not None else None,
        "model": prediction.model_id if prediction is not None else None,
        "landmarks": int(points.shape[0]),
        "qt_platform": _platform_name(),
        "frozen": is_frozen(),
        "seconds": round(time.monotonic() - started, 2),
    }


def _platform_name() -> str:
    from PySide6.QtGui import QGuiApplication

    return QGuiApplication.platformName()


def smoke_test() -> int:
    """Run the smoke test in this process; returns the exit code (prints one JSON line)."""
    started = time.monotonic()
    scratch = None
    if not os.environ.get("ANATOMARK_HOME"):  # never touch the user's own demo project
        scratch = tempfile.TemporaryDirectory(prefix="anatomark-smoke-")
        os.environ["ANATOMARK_HOME"] = scratch.name
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.demo import open_demo
    from app.main import configure_pyqtgraph
    from app.main_window import MainWindow
    from app.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(["anatomark"])
    configure_pyqtgraph()
    apply_dark_theme(app)
    window = MainWindow()
    result: dict = {}

    def finish(reason: str = "") -> None:
        if result:
            return
        result.update(summary(window, started))
        if reason:
            result["ok"] = False
            result["error"] = reason
        window.close()
        app.quit()

    def watch() -> None:
        """Fail at the first error the window shows (a failed prediction, a broken model…)."""
        if window.errors.history:
            finish(" ".join(window.errors.history[-1].split()))
        elif time.monotonic() - started > TIMEOUT_S:
            finish(f"no prediction on screen after {TIMEOUT_S:g} s")

    window.prediction_shown.connect(lambda _id: QTimer.singleShot(0, finish))
    poll = QTimer(window)
    poll.timeout.connect(watch)
    poll.start(250)
    window.show()
    if not open_demo(window):
        finish("the demo project could not be opened: " + (window.errors.history or ["no message"])[-1])
    else:
        app.exec()
    print(json.dumps(result), flush=True)
    if scratch is not None:
        scratch.cleanup()
    return 0 if result.get("ok") else 1
