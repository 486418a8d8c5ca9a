"""Atomic file publication: write a temp file beside the target, fsync, rename.

A reader never sees a half-written file, and a crash or a full disk leaves the
previous version in place.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def temp_name_pattern(path: str | Path) -> str:
    """Glob pattern of the temp files :func:`atomic_write` makes for ``path``.

    A process killed mid-write leaves one behind; whoever owns ``path`` next
    may delete the matches (the project store does, under its lock).
    """
    return f".{Path(path).name}.*.tmp"


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(fh)`` on a temp file in ``path``'s folder, then publish it as ``path``.

    The temp file gets the permissions ``path`` has (or the umask's default
    for a new file), then is fsynced, renamed over ``path`` with
    ``os.replace`` (atomic on POSIX and Windows), and the folder is fsynced so
    the rename itself is durable. Any exception leaves ``path`` untouched and
    removes the temp file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            _copy_mode(path, fh.fileno())
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


_umask: int | None = None


def _copy_mode(target: Path, fd: int) -> None:
    """Give the temp file the target's permissions (or the umask's default for a new file).

    ``mkstemp`` makes files readable by their owner only; a shared project
    would silently become unreadable to colleagues after its first save.
    """
    global _umask
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        if _umask is None:  # reading the umask means setting it: once, not on every save
            _umask = os.umask(0o022)
            os.umask(_umask)
        mode = 0o666 & ~_umask
    if hasattr(os, "fchmod"):  # not on Windows, where mkstemp's mode does not restrict others anyway
        os.fchmod(fd, mode)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; silently skipped where folders cannot be opened (Windows)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(path: str | Path, obj: object) -> None:
    """``torch.save`` published atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())
