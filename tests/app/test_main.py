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


def test_opening_images_from_the_demo_starts_a_new_project(make_window, qtbot, wait_for_predictions, jsrt_png):
    """Issue 17: File ▸ Open Image(s) used to add the user's images to the demo project for good."""
    window = make_window()
    assert open_demo(window)
    wait_for_predictions(qtbot, window)
    demo_ids = window.doc.image_ids()
    window.open_images([jsrt_png])
    wait_for_predictions(qtbot, window)
    assert window.doc.project.path != demo_project_path()
    assert len(window.doc.image_ids()) == 1 and window.doc.image_ids() != demo_ids
    window.doc.close_project()
    from core.project import Project

    with Project.open(demo_project_path(), read_only=True) as demo:  # the demo holds its sample only
        assert [im.id for im in demo.images] == demo_ids


def test_adding_an_image_already_in_the_project_says_so(make_window, qtbot, wait_for_predictions, jsrt_png, tmp_path):
    import shutil

    window = make_window()
    window.open_images([jsrt_png])
    wait_for_predictions(qtbot, window)
    copy = tmp_path / "renamed.png"
    shutil.copy(jsrt_png, copy)
    notices = []
    window.doc.notice.connect(notices.append)
    assert window.doc.add_images([copy]) == []
    assert len(window.doc.image_ids()) == 1
    assert notices == [f"Already in this project: renamed.png (same content as {jsrt_png.name})"]
    assert "Already in this project" in window.status.currentMessage()
