"""GUI test set-up: pyqtgraph configured as the app does, one shared model, a private
user data folder, user-like mouse helpers, and a guard that fails tests leaking windows
or running threads (napari's ``_dangling_qthreads`` idea)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main import configure_pyqtgraph  # noqa: E402

configure_pyqtgraph()
# pyqtgraph drops mouse moves closer than 10 ms apart; tests send them back to back.
pg.setConfigOptions(mouseRateLimit=0)

RG1 = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chest_RG1.dcm"


@pytest.fixture(scope="session")
def predictor():
    """The bundled chest6 model, loaded once per session and shared with the app's cache."""
    from app.jobs import predictor_cache
    from core.inference import Predictor

    loaded = Predictor("chest6", device="cpu")
    predictor_cache.put("chest6", loaded)
    return loaded


@pytest.fixture
def jsrt_png(shared_data) -> Path:
    path = shared_data / "chest_jsrt" / "images" / "JPCLN001.png"
    if not path.is_file():
        pytest.skip(f"{path} not found: the JSRT chest images are needed for this test")
    return path


@pytest.fixture
def ceph_jpg(shared_data) -> Path:
    """ISBI 2015 cephalogram 151 (test1), stored at 0.2 mm/px with both doctors' points in its table."""
    path = shared_data / "ceph_isbi2015" / "images" / "151.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not found: the ISBI cephalograms are needed for this test")
    return path


@pytest.fixture
def shown(make_window, qtbot, rg1, wait_for_predictions):
    """A window with the chest DICOM RG1 open in a new project, predicted."""
    window = make_window()
    window.open_images([rg1])
    wait_for_predictions(qtbot, window)
    return window


@pytest.fixture
def ceph_window(make_window, qtbot, ceph_jpg, wait_for_predictions):
    """A window with cephalogram 151 open in a ceph19 project, predicted."""
    window = make_window()
    window.open_images([ceph_jpg], schema_name="ceph19")
    wait_for_predictions(qtbot, window)
    return window


@pytest.fixture(autouse=True)
def anatomark_home(tmp_path, monkeypatch) -> Path:
    """A private user data folder: tests never touch the real demo project."""
    home = tmp_path / "home"
    monkeypatch.setenv("ANATOMARK_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_leaks(qapp):
    """Fail a test that leaves a visible window or a running prediction thread behind."""
    from app.jobs import running_threads

    before = {id(w) for w in QApplication.topLevelWidgets() if w.isVisible()}
    yield
    QApplication.processEvents()
    threads = running_threads()
    for thread in threads:  # stop them so one leak does not cascade into the next tests
        thread.quit()
        thread.wait(10000)
    leaked = [w for w in QApplication.topLevelWidgets() if w.isVisible() and id(w) not in before]
    for widget in leaked:
        widget.close()
    assert not threads, f"test left {len(threads)} prediction thread(s) running"
    assert not leaked, f"test left windows open: {[type(w).__name__ for w in leaked]}"


@pytest.fixture
def make_window(qtbot, predictor):
    """Factory for shown main windows; closes whatever the test left open."""
    from app.main_window import MainWindow

    windows = []

    def make(autosave_ms: int = 200):
        window = MainWindow(autosave_ms=autosave_ms)
        window.resize(1280, 860)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    leaked_training = 0
    for window in windows:
        leaked_training += window.training.is_running()
        window.training.run.shutdown()  # else closing asks "stop training?" and would block
        window.close()
        window.deleteLater()
    QApplication.processEvents()
    assert not leaked_training, "test left a training subprocess running"


def wait_predictions(qtbot, window, timeout: int = 30000) -> None:
    """Wait until the window's prediction job (if any) has finished."""
    qtbot.waitUntil(lambda: not window.jobs.is_running(), timeout=timeout)
    QApplication.processEvents()


class Mouse:
    """Real mouse events on the viewer's viewport, at image points (data → scene → widget)."""

    def __init__(self, window) -> None:
        self.viewer = window.viewer
        self.viewport = window.viewer.graphics.viewport()

    def at(self, x: float, y: float) -> QPoint:
        return self.viewer.image_to_viewport(x, y)

    def _send(self, kind, pos: QPointF, button, buttons) -> None:
        global_pos = QPointF(self.viewport.mapToGlobal(pos.toPoint()))
        event = QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(self.viewport, event)

    def drag(self, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton, steps: int = 12, on_step=None) -> None:
        a, b = QPointF(start), QPointF(end)
        self._send(QEvent.Type.MouseMove, a, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
        self._send(QEvent.Type.MouseButtonPress, a, button, button)
        time.sleep(0.02)  # pyqtgraph tells a click from a drag by distance and time
        for i in range(1, steps + 1):
            p = a + (b - a) * (i / steps)
            self._send(QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button)
            if on_step is not None:
                on_step(i)
        self._send(QEvent.Type.MouseButtonRelease, b, button, Qt.MouseButton.NoButton)
        QApplication.processEvents()

    def move(self, pos: QPoint) -> None:
        """Hover (no button) at ``pos``."""
        self._send(QEvent.Type.MouseMove, QPointF(pos), Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
        QApplication.processEvents()

    def click(self, pos: QPoint, button=Qt.MouseButton.LeftButton) -> None:
        p = QPointF(pos)
        self._send(QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
        self._send(QEvent.Type.MouseButtonPress, p, button, button)
        self._send(QEvent.Type.MouseButtonRelease, p, button, Qt.MouseButton.NoButton)
        QApplication.processEvents()

    def wheel(self, pos: QPoint, clicks: int) -> None:
        p = QPointF(pos)
        global_pos = QPointF(self.viewport.mapToGlobal(pos))
        event = QWheelEvent(p, global_pos, QPoint(0, 0), QPoint(0, 120 * clicks), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(self.viewport, event)
        QApplication.processEvents()


@pytest.fixture
def mouse_for():
    return Mouse


@pytest.fixture
def wait_for_predictions():
    return wait_predictions


def marker_viewport_pos(window, k: int) -> QPoint:
    """Where landmark ``k``'s marker is drawn, in viewport pixels (scene → widget)."""
    window.viewer.box.updateMatrix()  # pyqtgraph applies a new view range lazily
    marker = window.viewer.landmarks.markers[k]
    return window.viewer.graphics.mapFromScene(marker.scenePos())


@pytest.fixture
def marker_pos():
    return marker_viewport_pos


def close_enough(a, b, tol: float) -> bool:
    return bool(np.hypot(a[0] - b[0], a[1] - b[1]) <= tol)


@pytest.fixture
def rg1() -> Path:
    """The bundled sample: PA chest CR, MONOCHROME1, JPEG 2000, spacing unknown."""
    return RG1
