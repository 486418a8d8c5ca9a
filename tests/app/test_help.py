"""Help ▸ User Guide and Help ▸ Keyboard Shortcuts (issue 17 item 7): the guide inside the app."""

from __future__ import annotations

from PySide6.QtCore import QUrl


def test_user_guide_opens_on_its_contents_and_follows_links(make_window, qtbot):
    window = make_window()
    assert window.actions.user_guide.shortcut().toString() == "F1"
    window.actions.user_guide.trigger()
    guide = window.guide
    qtbot.waitUntil(guide.isVisible)
    assert guide.browser.source().fileName() == "index.md"
    assert "Anatomark user guide" in guide.browser.toPlainText()
    guide.follow(QUrl("getting_started.md#correct-a-landmark"))  # a link as the index writes it
    assert guide.browser.source().fileName() == "getting_started.md"
    assert "Drag a point" in guide.browser.toPlainText() or "drag" in guide.browser.toPlainText().lower()
    guide.browser.backward()
    assert guide.browser.source().fileName() == "index.md"


def test_keyboard_shortcuts_lists_the_live_menus(make_window, qtbot):
    window = make_window()
    window.actions.shortcuts.trigger()
    text = window.guide.browser.toPlainText()
    assert "Keyboard shortcuts" in text and "User Guide" in text and "F1" in text
    assert window.actions.verify.text().replace("&", "") in text


def test_an_empty_project_says_how_to_add_images(make_window, tmp_path):
    window = make_window()
    assert "Open a project" in window.viewer.placeholder.text()
    assert window.new_project(tmp_path / "empty.anatomark", "ceph19")
    assert window.viewer.placeholder.isVisibleTo(window) and "no images yet" in window.viewer.placeholder.text()
    assert "Ctrl+I" in window.viewer.placeholder.text()


def test_the_schema_picker_describes_each_schema_and_its_model():
    from app.dialogs import schema_choices

    choices = dict((name, label) for label, name in schema_choices(["chest6", "ceph19", "hand37", "pelvis14"]))
    assert set(choices) == {"chest6", "ceph19", "hand37", "pelvis14"}
    assert "19 landmarks" in choices["ceph19"] and "bundled model predicts it" in choices["ceph19"]
    assert "no bundled model" in choices["hand37"] and "37 landmarks" in choices["hand37"]
