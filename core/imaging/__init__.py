"""Loading X-ray images (DICOM, PNG, JPEG, TIFF, BMP) into :class:`Radiograph`.

``load_image(path)`` is the single entry point. It decides the format from the
file's *content* (DICOM 'DICM' marker, raster magic bytes) and only falls back
to the extension for DICOM files without a preamble, because files from PACS
exports and e-mails are often misnamed. Whatever goes wrong, it raises
:class:`ImageLoadError` with a one-line message; no other exception escapes
(except KeyboardInterrupt/SystemExit).

Modules: ``radiograph`` (the data class, windows), ``dicom``, ``raster``,
``errors``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .dicom import DICOM_SUFFIXES, is_dicom_header, load_dicom, looks_like_raw_dicom
from .errors import ImageLoadError
from .raster import RASTER_SUFFIXES, load_raster, sniff_raster
from .radiograph import MAX_PIXELS, Radiograph

__all__ = ["ImageLoadError", "MAX_PIXELS", "Radiograph", "SUPPORTED_SUFFIXES", "load_image"]

#: Lower-case suffixes the open dialog offers. Content decides the format, so
#: a misnamed file still loads.
SUPPORTED_SUFFIXES: tuple[str, ...] = DICOM_SUFFIXES + RASTER_SUFFIXES

_HEAD_BYTES = 132  # DICOM preamble (128) + "DICM"


def load_image(path: str | os.PathLike[str]) -> Radiograph:
    """Load one X-ray image as a grey :class:`Radiograph`.

    Raises:
        ImageLoadError: for every failure (missing, empty, corrupt, unsupported,
            undecodable, too large), with a one-line message naming the file.
    """
    p = Path(path)
    try:
        head = _read_head(p)
        if is_dicom_header(head):
            return load_dicom(p)
        fmt = sniff_raster(head)
        if fmt is not None:
            return load_raster(p, fmt)
        if p.suffix.lower() in DICOM_SUFFIXES or looks_like_raw_dicom(head):
            return load_dicom(p)
        kind = f"not a {p.suffix[1:].upper()} image: " if p.suffix.lower() in RASTER_SUFFIXES else ""
        raise ImageLoadError(p, f"{kind}unrecognised file content (expected DICOM, PNG, JPEG, TIFF or BMP)")
    except ImageLoadError:
        raise
    except MemoryError as exc:
        raise ImageLoadError(p, "not enough memory to load the image") from exc
    except Exception as exc:  # a bug or an exotic failure: still one type for callers
        raise ImageLoadError(p, f"unexpected error while loading ({type(exc).__name__}: {exc})") from exc


def _read_head(path: Path) -> bytes:
    """First bytes of the file, turning "missing / folder / unreadable / empty" into ImageLoadError."""
    if path.is_dir():
        raise ImageLoadError(path, "is a folder, not an image file")
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "file not found") from exc
    except PermissionError as exc:
        raise ImageLoadError(path, "permission denied") from exc
    except OSError as exc:
        raise ImageLoadError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if not head:
        raise ImageLoadError(path, "file is empty (0 bytes)")
    return head
