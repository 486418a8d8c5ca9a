"""One line for an expected failure, the same in the command line and the app."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["error_line"]


def error_line(exc: BaseException) -> str:
    """The one line an expected failure prints: an OS error as ``file name: reason`` (never the
    folders above it, never ``[Errno 28]``), a KeyError without its quotes, anything else as it says."""
    if isinstance(exc, OSError) and exc.strerror:
        filename = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes, os.PathLike)) else ""
        name = Path(filename).name if filename else ""
        text = f"{name}: {exc.strerror}" if name else exc.strerror
    elif isinstance(exc, KeyError):
        text = str(exc.args[0] if exc.args else exc)
    else:
        text = str(exc)
    return " ".join(text.split()) or exc.__class__.__name__
