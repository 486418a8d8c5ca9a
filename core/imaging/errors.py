"""The one exception the image loader raises.

Callers (the app's "Open image" action, batch prediction, training-set import)
must be able to catch a single type and show its message to a person, so every
failure below ``load_image`` — unreadable file, corrupt data, missing decoder,
unsupported format, absurd size — is converted into :class:`ImageLoadError`.
The message is one line: it ends up in status bars, log lines and JSON-lines
progress reports of subprocesses, where a newline would break the layout.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Longest reason kept in a message; decoder back-ends sometimes dump pages.
_MAX_REASON_CHARS = 400


def one_line(text: str, limit: int = _MAX_REASON_CHARS) -> str:
    """Collapse all whitespace (newlines included) and cut ``text`` to ``limit`` chars."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def short_reason(exc: BaseException) -> str:
    """First line of an exception's message (or its type name), for one-line reasons."""
    text = str(exc).strip()
    return one_line(text.splitlines()[0] if text else type(exc).__name__, limit=200)


class ImageLoadError(Exception):
    """An image could not be loaded; ``str(e)`` is a single human-readable line.

    Attributes:
        path: the file that failed (``None`` when there was no file, e.g. bytes).
        reason: the message without the file-name prefix.

    The message starts with the file *name* only, not the full path: folder
    names in hospitals often contain patient names, and the message is shown
    and logged.
    """

    def __init__(self, path: str | os.PathLike[str] | None, reason: str) -> None:
        self.path: Path | None = Path(path) if path is not None else None
        self.reason: str = one_line(reason)
        name = self.path.name if self.path is not None else "<image>"
        super().__init__(f"{name}: {self.reason}")

    def __reduce__(self) -> tuple[type[ImageLoadError], tuple[Path | None, str]]:
        # Default pickling would call cls(message) and fail: we take (path, reason).
        # Needed when the error crosses a process boundary (worker pools).
        return (type(self), (self.path, self.reason))
