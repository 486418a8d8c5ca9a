"""Anatomark desktop app (PySide6 + pyqtgraph).

Talks to ``core`` only through its public types (``Radiograph``, ``LandmarkSchema``,
``Prediction``, ``Project``). Layout:

- ``main``: the entry point (``anatomark`` with no subcommand) and start-up.
- ``document``: the open project as a QObject with past-tense signals; ``commands``:
  every edit as a ``QUndoCommand``; ``jobs``: prediction off the UI thread.
- ``viewer``: the image view (window/level, zoom, pan) and its gestures;
  ``overlays``: one class per drawn layer; ``panels``: images, landmarks, layers.
- ``main_window`` and ``actions``: the window, its menus, toolbar and shortcuts.
"""
