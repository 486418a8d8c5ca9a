"""Running from a standalone bundle (PyInstaller) instead of a Python install.

A frozen bundle has no ``python`` to run ``-m core.cli`` with: ``sys.executable`` *is* the
bundle's ``anatomark`` program, which runs the CLI itself (``app.launch`` starts the app
only when given no subcommand). Its data files are unpacked under ``sys._MEIPASS``.
Everything that depends on the difference asks here, so it is decided in one place.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: How a Python install runs ``anatomark``: the installed CLI's ``main`` in this interpreter
#: (``-c`` rather than ``-m core.cli`` so the working directory cannot shadow the package).
_PYTHON_CLI = ("-c", "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))")


def is_frozen() -> bool:
    """True inside a PyInstaller bundle (it sets ``sys.frozen``)."""
    return bool(getattr(sys, "frozen", False))


def bundle_dir() -> Path | None:
    """The folder the bundle's data files were collected into, or None when not frozen."""
    if not is_frozen():
        return None
    return Path(getattr(sys, "_MEIPASS", Path(sys.executable).resolve().parent))


def cli_command(frozen: bool | None = None, executable: str | None = None) -> list[str]:
    """The argv prefix that runs the ``anatomark`` CLI in a child process.

    Append the subcommand and its arguments, e.g. ``cli_command() + ["train", …]``.
    ``frozen`` and ``executable`` default to this process's; tests pass both.
    """
    frozen = is_frozen() if frozen is None else frozen
    executable = executable or sys.executable
    return [executable] if frozen else [executable, *_PYTHON_CLI]
