"""A project's hold on its image files: absolute paths, and the content hash that identifies an
image wherever the file moves (``ImageRecord.id`` is its first 16 hex digits)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["absolute_path", "sha256_file"]

_HASH_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's content, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def absolute_path(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute without resolving links (the path the user gave, from /)."""
    return Path(os.path.abspath(os.fspath(path)))
