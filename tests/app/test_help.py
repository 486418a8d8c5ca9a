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
