"""The entry point: honest messages without Qt or a display; the demo project on first start."""

from __future__ import annotations

import sys

from app import main as app_main
from app.demo import demo_sample, open_demo
from app.paths import demo_project_path
from core.project import LandmarkState


def test_no_display_is_one_line(monkeypatch, capsys):
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert app_main.main([]) == 1
    assert capsys.readouterr().err.splitlines() == ["anatomark: no display found (set DISPLAY, or QT_QPA_PLATFORM=offscreen)"]


def test_missing_pyside6_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "PySide6", None)
    assert app_main.main([]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("anatomark: the desktop app needs PySide6")


def test_demo_project_is_created_predicted_and_reopened(make_window, qtbot, wait_for_predictions, anatomark_home):
    window = make_window()
    shown = []
    window.prediction_shown.connect(shown.append)
    assert open_demo(window)
    wait_for_predictions(qtbot, window)
    assert window.doc.project.path == demo_project_path()
    assert demo_project_path().parent == anatomark_home
    (image_id,) = window.doc.image_ids()
    assert window.doc.image(image_id).path == str(demo_sample())
    assert shown == [image_id]
    assert {r.state for r in window.doc.image(image_id).landmarks.values()} == {LandmarkState.PREDICTED}
    window.close()

    # Second start: the same demo, from its cache, without running the model again.
    again = make_window()
    assert open_demo(again)
    assert not again.jobs.is_running()
    assert again.doc.prediction(image_id) is not None and again.viewer.frame.prediction is not None


def test_damaged_demo_is_set_aside_and_made_again(make_window, qtbot, wait_for_predictions):
    demo_project_path().write_bytes(b"not a project")
    window = make_window()
    assert open_demo(window)
    wait_for_predictions(qtbot, window)
    assert window.doc.image_ids()
    assert list(demo_project_path().parent.glob("demo.damaged-*.anatomark"))
    assert window.errors.history == []
