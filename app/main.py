"""Desktop app entry point (``anatomark`` with no subcommand).

- ``anatomark``: the demo project (bundled chest DICOM + chest6 model), predicted and
  ready to correct;
- ``anatomark FILE…``: those images in a new project in the user data folder, predicted;
- ``anatomark PROJECT.anatomark``: that project (read-only when another Anatomark has it);
- ``anatomark --smoke-test``: the demo in a scratch folder, one JSON line, exit (``app.smoke``).

Environment switches used by the benchmark and the screenshots (not user features):
``ANATOMARK_EXIT_WHEN_SHOWN=1`` prints ``ANATOMARK_SHOWN <unix time>`` once a predicted
image is on screen and quits; ``ANATOMARK_SCREENSHOT=PATH`` saves the window to PATH
(PNG) at that moment and quits. ``ANATOMARK_HOME`` moves the user data folder.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from pathlib import Path


def _display_available() -> bool:
    """True when Qt has somewhere to draw: a platform plugin chosen, or a display server."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(v) for v in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"))


def configure_pyqtgraph() -> None:
    """Once, at start-up: row-major images (ADR 0001), antialiased lines."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="k", foreground="#d7dae0")


def _warm_model(model: str) -> threading.Thread:
    """Load the model in the background while Qt starts: first the predictor that makes the first
    prediction (compiled: no PyTorch import), then PyTorch's for interactive re-prediction (its
    import alone takes a second or more), so the first drag of a point does not wait for it."""

    def load() -> None:
        from app.jobs import predictor_cache

        try:
            predictor_cache.get(model)
        except Exception:
            return  # the prediction job reports the failure with a proper message
        predictor_cache.first_prediction.wait(timeout=20.0)  # the cores to the first prediction
        if predictor_cache.closing.is_set():
            return
        try:
            predictor_cache.torch(model)
        except Exception:
            pass  # re-prediction reports it when it is asked for

    thread = threading.Thread(target=load, name="anatomark-model-warmup", daemon=True)
    thread.start()
    return thread


def _install_excepthook(window) -> None:
    """An unexpected error becomes a one-line dialog (the traceback goes to a log file)."""
    from app.paths import user_data_dir

    def hook(kind, value, tb) -> None:
        try:
            with open(user_data_dir() / "anatomark.log", "a", encoding="utf-8") as log:
                log.write(time.strftime("%Y-%m-%d %H:%M:%S ") + "".join(traceback.format_exception(kind, value, tb)))
        except OSError:
            pass
        text = " ".join(str(value).split()) or kind.__name__
        window.show_error(f"Unexpected error ({kind.__name__}): {text}. Details are in anatomark.log.")

    sys.excepthook = hook


def _when_shown(app, window) -> None:
    """Benchmark and screenshot switches: act once a predicted image is on screen."""
    shot = os.environ.get("ANATOMARK_SCREENSHOT")
    timing = os.environ.get("ANATOMARK_EXIT_WHEN_SHOWN")
    if not shot and not timing:
        return
    from PySide6.QtCore import QTimer

    done = []

    def shown(_image_id: str) -> None:
        if done:
            return
        done.append(True)
        window.repaint()
        if timing:
            print(f"ANATOMARK_SHOWN {time.time():.4f}", flush=True)
            QTimer.singleShot(0, window.close)
        else:
            QTimer.singleShot(800, lambda: (window.grab().save(shot), window.close()))

    window.prediction_shown.connect(shown)


def run(argv: list[str]) -> int:
    """Start the app on ``argv`` (paths); returns the exit code."""
    from app.demo import DEMO_SCHEMA, demo_needs_model, open_demo
    from app.paths import is_project_path

    paths = [Path(a) for a in argv]
    projects = [p for p in paths if is_project_path(p)]
    warm = None
    if not paths and demo_needs_model() or (paths and not projects):
        warm = _warm_model(DEMO_SCHEMA)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["anatomark"])
    app.setApplicationName("Anatomark")
    app.setOrganizationName("anatomark")
    configure_pyqtgraph()
    from app.main_window import MainWindow
    from app.theme import apply_dark_theme

    apply_dark_theme(app)
    window = MainWindow()
    _install_excepthook(window)
    _when_shown(app, window)
    window.show()
    if projects:
        window.doc.open_project(projects[0])
        if len(paths) > 1:
            window.show_error("Open one project at a time; other arguments were ignored.")
    elif paths:
        window.open_images(paths)
    else:
        open_demo(window)
    code = app.exec()
    if warm is not None:
        from app.jobs import predictor_cache

        predictor_cache.closing.set()
        predictor_cache.first_prediction.set()  # wake a warm-up still waiting: it stops
        warm.join(timeout=30)
    return code


def main(argv: list[str]) -> int:
    """Run the desktop app; returns the process exit code. ``argv`` excludes the program name."""
    try:
        import PySide6  # noqa: F401
    except ImportError as exc:
        print(f"anatomark: the desktop app needs PySide6 ({exc}); "
              "install with: python3 -m pip install -e .", file=sys.stderr)
        return 1
    if not _display_available():
        print("anatomark: no display found (set DISPLAY, or QT_QPA_PLATFORM=offscreen)",
              file=sys.stderr)
        return 1
    os.environ.setdefault("QT_API", "pyside6")
    if argv[:1] == ["--smoke-test"]:
        from app.smoke import smoke_test

        return smoke_test()
    return run(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
