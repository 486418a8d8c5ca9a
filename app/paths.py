"""Where the app keeps its own files: the demo project and new untitled projects.

``ANATOMARK_HOME`` overrides the folder (tests and benchmarks use a temporary one);
otherwise Qt's per-user application data folder, e.g. ``~/.local/share/anatomark``.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

PROJECT_SUFFIX = ".anatomark"
DEMO_PROJECT_NAME = "demo" + PROJECT_SUFFIX


def user_data_dir() -> Path:
    """The per-user data folder, created if needed."""
    override = os.environ.get("ANATOMARK_HOME")
    if override:
        path = Path(override)
    else:
        from PySide6.QtCore import QStandardPaths

        location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
        path = Path(location) / "anatomark" if location else Path.home() / ".local" / "share" / "anatomark"
    path.mkdir(parents=True, exist_ok=True)
    return path


def demo_project_path() -> Path:
    return user_data_dir() / DEMO_PROJECT_NAME


def new_project_path(stem: str = "untitled") -> Path:
    """A fresh, unused project path in the user data folder, named after ``stem`` and the time."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = user_data_dir() / "projects"
    folder.mkdir(parents=True, exist_ok=True)
    candidate = folder / f"{stem}-{stamp}{PROJECT_SUFFIX}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{stamp}-{n}{PROJECT_SUFFIX}"
        n += 1
    return candidate


def is_project_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() == PROJECT_SUFFIX
