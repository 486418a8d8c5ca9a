"""The one exception the project store raises for everything a person must be told.

The app shows ``str(error)`` in a dialog or the status bar, so the message is
one line and names the project file by its name only (folder names in
hospitals often carry patient names). Programming errors (an unknown image id,
a landmark the schema lacks, an impossible state change) stay ``KeyError`` /
``ValueError``: they are bugs in the caller, not conditions to explain.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

__all__ = ["ProjectError", "describe_os_error", "display_name"]


class ProjectError(Exception):
    """A project file cannot be opened, saved or changed; ``str(e)`` is one human line.

    Raised for: a missing, foreign, damaged (truncated, half-written) file; a
    file written by a newer Anatomark; an I/O failure while saving (disk full,
    read-only disk, permission denied: the previous file is then unchanged);
    and any change to a project that is open read-only.
    """

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    def __reduce__(self) -> tuple[type[ProjectError], tuple[str]]:
        return (type(self), (str(self),))


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace (HDF5 messages span lines) and cut to ``limit`` characters.

    (``core.imaging.errors`` has the same helper; importing it would pull in
    pydicom and make every process that only opens a project slower to start.)
    """
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def short_reason(exc: BaseException) -> str:
    """First line of an exception's message, or its type name."""
    text = str(exc).strip()
    return one_line(text.splitlines()[0] if text else type(exc).__name__, limit=200)


_HDF5_ERRNO = re.compile(r"errno = (\d+)")

_ERRNO_TEXT = {
    getattr(errno, name): text
    for name, text in (
        ("ENOSPC", "the disk is full"),
        ("EDQUOT", "the disk quota is exceeded"),
        ("EFBIG", "the file is too large for the disk or a size limit"),
        ("EROFS", "the disk is read-only"),
        ("EACCES", "permission denied"),
        ("EPERM", "permission denied"),
        ("EIO", "an input/output error (failing disk or lost network share?)"),
    )
    if hasattr(errno, name)  # EDQUOT is missing on Windows
}


def describe_os_error(exc: BaseException) -> str:
    """Short reason for an I/O failure, in words a radiologist can act on.

    HDF5 reports failed writes as ``OSError`` without an errno; the errno of
    the underlying call, when Python saw it, is more telling than HDF5's text.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _ERRNO_TEXT:
            return _ERRNO_TEXT[seen.errno]
        found = _HDF5_ERRNO.search(str(seen))  # "... errno = 28, error message = ..."
        if found and int(found.group(1)) in _ERRNO_TEXT:
            return _ERRNO_TEXT[int(found.group(1))]
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        return exc.strerror.lower()  # str(exc) would name the full path
    return short_reason(exc)


def display_name(path: str | os.PathLike[str]) -> str:
    """The file name shown in messages (never the folders above it)."""
    return Path(path).name
