"""The keyboard map as the window really has it: read from its menus and actions.

``user_guide/shortcuts_page.py`` writes ``user_guide/keyboard_shortcuts.md`` from
:func:`shortcuts_table`, and a test compares the page with a fresh window, so the guide's
list of keys cannot drift from ``app/actions.py``.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu


def _plain(text: str) -> str:
    """Menu text without mnemonics (``&Save`` → ``Save``, ``&&`` → ``&``)."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


#: Commands bound to the desktop's standard keys (``QKeySequence.StandardKey``), which differ
#: between Linux desktops, Windows and macOS; the page names them instead of one platform's keys.
STANDARD_KEYS = ("New", "Open", "Save", "Close", "Quit", "Undo", "Redo")


def _keys(action: QAction) -> str:
    """The action's shortcuts in Qt's portable spelling (Ctrl is ⌘ on macOS), standard keys by name."""
    keys = [s for s in action.shortcuts() if not s.isEmpty()]
    named = []
    for name in STANDARD_KEYS:
        bindings = QKeySequence.keyBindings(getattr(QKeySequence.StandardKey, name))
        if bindings and keys[:1] == bindings[:1]:  # QKeySequence(StandardKey) keeps the first binding
            named.append(f"standard {name} key")
            keys = keys[1:]
            break
    return ", ".join(named + [k.toString(QKeySequence.SequenceFormat.PortableText) for k in keys])


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str, str]]:
    """``(menu, command, keys)`` for every action of ``window`` that has a shortcut.

    Menu order first (``View › Layers`` for submenus), then actions that are in no menu.
    """
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            seen.add(id(action))
            if action.menu() is not None:
                walk(action.menu(), f"{path} › {_plain(action.text())}")
            elif not action.isSeparator() and _keys(action):
                rows.append((path, _plain(action.text()), _keys(action)))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), _plain(top.text()))
    for action in QMainWindow.actions(window):  # MainWindow.actions is its Actions record
        if id(action) not in seen and _keys(action):
            rows.append(("(no menu)", _plain(action.text()), _keys(action)))
    return rows


def shortcuts_table(window: QMainWindow) -> str:
    """The Markdown table of :func:`shortcut_rows`: ``| Menu | Command | Keys |``."""
    lines = ["| Menu | Command | Keys |", "|---|---|---|"]
    for menu, command, keys in shortcut_rows(window):
        cells = (menu, command, keys.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
