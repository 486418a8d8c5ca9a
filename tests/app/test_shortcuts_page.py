"""The guide's keyboard page is the window's real keyboard map (app.shortcuts)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QKeySequence

from app.main_window import MainWindow
from app.shortcuts import shortcut_rows, shortcuts_table

PAGE = Path(__file__).resolve().parents[2] / "user_guide" / "keyboard_shortcuts.md"


def test_rows_come_from_the_menus(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    rows = shortcut_rows(window)
    accept = window.actions.accept
    expected = accept.shortcut().toString(QKeySequence.SequenceFormat.PortableText)
    assert ("Edit", accept.text().replace("&", ""), expected) in rows
    assert all("&" not in command for _menu, command, _keys in rows)
    assert any(menu == "View › Layers" for menu, _c, _k in rows)  # submenus are walked
    assert ("Edit", "Redo", "standard Redo key, Ctrl+Y") in rows  # platform keys named, extras kept


def test_guide_page_matches_the_window(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    table = shortcuts_table(window)
    assert table in PAGE.read_text(encoding="utf-8"), (
        "user_guide/keyboard_shortcuts.md is out of date: run python3 user_guide/shortcuts_page.py")
