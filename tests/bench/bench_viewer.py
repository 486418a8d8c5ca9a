"""Benchmark: viewer frame time while dragging a point, and start-up to the first predicted image.

Run on demand (not part of the test suite):

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_viewer.py [--moves 150] [--starts 3]
    xvfb-run -s "-screen 0 1600x1000x24" python tests/bench/bench_viewer.py   # a real X server

1. **Drag frame time**: a 2048×2048 16-bit radiograph, predicted by the bundled chest6
   model, every overlay on (heatmaps of all landmarks, soft-argmax and refined points,
   displacement arrows, segmentation masks — synthetic, the model makes none — graph
   edges, labels, confidence). One landmark is dragged with real mouse events on the
   viewport; each frame is one mouse move handled plus a synchronous repaint of the
   view. Prints the median and 90th percentile. Target: median ≤ 16 ms.
2. **Start-up**: ``anatomark`` (the console entry point) in a fresh process, until the
   first predicted image is painted (``ANATOMARK_EXIT_WHEN_SHOWN``). "Cold" uses an
   empty user data folder: the demo project is created and the model loaded and run;
   "warm" reopens it with its cached prediction. Target: cold ≤ 3 s, model load included.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "xcb")
os.environ["QT_API"] = "pyside6"

import numpy as np  # noqa: E402


def _make_image(folder: Path) -> Path:
    """A 2048² 16-bit PNG: a JSRT chest upscaled ×2 when the shared data is there, else noise."""
    from PIL import Image

    from core.resources import shared_data_dir

    data = shared_data_dir()
    source = data / "chest_jsrt" / "images" / "JPCLN001.png" if data else None
    if source is not None and source.is_file():
        grey = np.asarray(Image.open(source).convert("L").resize((2048, 2048), Image.BILINEAR), dtype=np.uint16) * 257
    else:
        rng = np.random.default_rng(0)
        grey = (rng.random((2048, 2048)) * 65535).astype(np.uint16)
    path = folder / "chest2048.png"
    Image.fromarray(grey).save(path)
    return path


def drag_frame_times(moves: int) -> list[float]:
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["bench"])
    from app.main import configure_pyqtgraph

    configure_pyqtgraph()
    import pyqtgraph as pg

    pg.setConfigOptions(mouseRateLimit=0)
    from app.main_window import MainWindow
    from app.theme import apply_dark_theme

    apply_dark_theme(app)
    window = MainWindow(autosave_ms=60_000)
    window.resize(1500, 950)
    window.show()
    image = _make_image(Path(os.environ["ANATOMARK_HOME"]))
    window.open_images([image])
    while window.jobs.is_running():
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    viewer = window.viewer
    frame = viewer.frame
    assert frame is not None and frame.prediction is not None and frame.image_size == (2048, 2048)
    masks = np.zeros((5, 2048, 2048), bool)
    masks[0, 300:1700, 200:950] = True
    masks[1, 300:1700, 1100:1850] = True
    masks[2, 900:1600, 800:1400] = True
    classes = ("right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle")
    frame.prediction = dataclasses.replace(frame.prediction, masks=masks, mask_classes=classes)
    viewer.set_frame(frame)
    window.layers_panel.heatmap_mode.setCurrentIndex(1)  # all landmarks
    for overlay in viewer.overlays:
        overlay.set_visible(True)
        assert overlay.is_shown(), overlay.key
    viewer.fit()  # the whole 2048² image on screen: every pixel of the view is redrawn
    app.processEvents()

    viewport = viewer.graphics.viewport()
    k = 0
    viewer.box.updateMatrix()
    start = QPointF(viewer.graphics.mapFromScene(viewer.landmarks.markers[k].scenePos()))

    def send(kind, pos, button, buttons):
        event = QMouseEvent(kind, pos, QPointF(viewport.mapToGlobal(pos.toPoint())), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    send(QEvent.Type.MouseMove, start, none, none)
    send(QEvent.Type.MouseButtonPress, start, left, left)
    time.sleep(0.05)
    times = []
    for i in range(1, moves + 1):
        angle = i / moves * 4 * np.pi
        pos = start + QPointF(120 * np.sin(angle) + i * 0.5, 80 * (1 - np.cos(angle)))
        t0 = time.perf_counter()
        send(QEvent.Type.MouseMove, pos, none, left)
        viewport.repaint()
        times.append((time.perf_counter() - t0) * 1e3)
    send(QEvent.Type.MouseButtonRelease, pos, left, none)
    app.processEvents()
    assert window.doc.undo_stack.count() == 1, "the drag should end in one MoveLandmark"
    window.close()
    return times[5:]  # the first moves start the drag and warm caches


def startup_seconds(home: Path) -> float:
    env = dict(os.environ, ANATOMARK_HOME=str(home), ANATOMARK_EXIT_WHEN_SHOWN="1")
    code = "import sys; from app.launch import main; sys.exit(main([]))"
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("ANATOMARK_SHOWN "):
            return float(line.split()[1]) - t0
    raise RuntimeError(f"the app never showed a predicted image (exit {out.returncode}): {out.stderr.strip()[-500:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=150)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    platform = os.environ["QT_QPA_PLATFORM"]
    print(f"platform {platform}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")

    cold, warm = [], []
    for _ in range(args.starts):
        with tempfile.TemporaryDirectory() as home:
            cold.append(startup_seconds(Path(home)))
            warm.append(startup_seconds(Path(home)))
    print(f"start-up to first predicted image, cold (new demo, model load + predict): "
          f"median {statistics.median(cold):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in cold)})  target ≤ 3 s")
    print(f"start-up to first predicted image, warm (cached prediction):             "
          f"median {statistics.median(warm):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in warm)})")

    with tempfile.TemporaryDirectory() as home:
        os.environ["ANATOMARK_HOME"] = home
        times = drag_frame_times(args.moves)
    p90 = float(np.percentile(times, 90))
    print(f"drag frame time, 2048×2048, all overlays on: median {statistics.median(times):.1f} ms, "
          f"p90 {p90:.1f} ms, max {max(times):.1f} ms over {len(times)} moves  target ≤ 16 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
