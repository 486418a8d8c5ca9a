"""Anatomark desktop app (PySide6 + pyqtgraph).

Talks to ``core`` only through its public types. Not built yet: ``app.main``
is a placeholder that says so.
"""
