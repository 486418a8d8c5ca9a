"""Layout on real screens (issue 17 item 6): every ceph row at 1600×1000, nothing overlapping at
1280×800, dock sizes remembered."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication


def _window(qtbot, size):
    from app.main_window import MainWindow

    window = MainWindow(autosave_ms=200)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)  # the first show splits the right column
    return window


def _close(window):
    window.training.run.shutdown()
    window.close()
    window.deleteLater()
    QApplication.processEvents()


def test_every_ceph_row_is_visible_at_1600x1000(qtbot, ceph_jpg, wait_for_predictions):
    window = _window(qtbot, (1600, 1000))
    try:
        window.open_images([ceph_jpg], schema_name="ceph19")
        wait_for_predictions(qtbot, window)
        table = window.landmarks_panel.table
        last = table.model().rowCount() - 1
        assert last == 18
        assert table.rowViewportPosition(last) + table.rowHeight(last) <= table.viewport().height()
    finally:
        _close(window)


def test_nothing_overlaps_in_the_viewer_at_1280x800(qtbot, ceph_jpg, wait_for_predictions):
    window = _window(qtbot, (1280, 800))
    try:
        window.open_images([ceph_jpg], schema_name="ceph19")
        wait_for_predictions(qtbot, window)
        viewer = window.viewer
        viewer._update_corner()
        assert viewer.notice.isVisible() and viewer.corner.text()
        assert not viewer.corner.geometry().intersects(viewer.notice.geometry())
        table = window.landmarks_panel.table
        assert table.viewport().height() >= 10 * table.rowHeight(0)  # most of the 19 rows, not 2
    finally:
        _close(window)


def test_dock_sizes_are_remembered(qtbot):
    from PySide6.QtCore import Qt

    window = _window(qtbot, (1400, 900))
    window.resizeDocks([window.landmarks_dock], [300], Qt.Orientation.Vertical)
    qtbot.wait(20)
    height = window.landmarks_dock.height()
    _close(window)  # closing saves the layout (ANATOMARK_HOME: a scratch folder)
    again = _window(qtbot, (1400, 900))
    try:
        assert abs(again.landmarks_dock.height() - height) <= 4
    finally:
        _close(again)
