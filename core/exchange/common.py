"""What every format shares: the error type, imported records, reading values, the exported rows.

Privacy: an export names images by their content id (``<image id><suffix>``,
the first 16 hex digits of the file's SHA-256) unless the user opts in to
identifiers; the source file name, which can carry a patient's name
(``DOE^JOHN_1234.dcm``), is written only then. Import matches either name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.atomic import atomic_write
from core.project.records import LandmarkState

EXPORT_FORMATS = ("csv", "coco", "labelme", "isbi", "dicom-sr")
IMPORT_FORMATS = ("csv", "coco", "labelme", "isbi", "dicom-sr")
#: Formats a data set folder (images beside their annotations) may come in.
DATASET_FORMATS = ("csv", "coco", "labelme", "isbi")
#: Largest import file read (bytes): 10,000 images of 19 landmarks take about 12 MB in the
#: most verbose format (COCO); more is a mistake or hostile, and is refused before reading.
MAX_FILE_BYTES = 32 * 1024 * 1024
#: Largest coordinate magnitude a file may hold (px); larger is refused before any image size check.
MAX_COORDINATE = 1e7


class ExchangeError(ValueError):
    """A file that cannot be exported or imported; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass
class ImportedImage:
    """Landmarks of one image as a file states them.

    ``key``: how the file names the image (a file name, a stem or a project image id).
    ``points``: landmark name -> (x, y, state); x, y NaN for absent/missing; state is
    a :class:`LandmarkState` value or None when the format has no states.
    """

    key: str
    points: dict[str, tuple[float, float, str | None]] = field(default_factory=dict)


def read_text(path: Path, what: str) -> str:
    """A file's text (UTF-8, BOM allowed), with every failure as ExchangeError."""
    p = Path(path)
    try:
        if p.is_dir():
            raise ExchangeError(f"{p.name}: is a folder, expected a {what} file")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ExchangeError(f"{p.name}: {size / 2**20:.0f} MB is too large for a {what} file "
                                f"(at most {MAX_FILE_BYTES // 2**20} MB)")
        return p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ExchangeError(f"{p.name}: file not found") from None
    except UnicodeDecodeError:
        raise ExchangeError(f"{p.name}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ExchangeError(f"{p.name}: cannot read ({exc.strerror or exc})") from None


def number(value: object, where: str, text: bool = True) -> float:
    """A finite float from a file value; ExchangeError otherwise (NaN, inf, huge, not a number).

    ``text``: a string spelling a number is accepted (CSV, ISBI); JSON formats pass
    False, so ``"12.5"`` where a number belongs is a wrong type, not a number.
    A format says "no position" its own way (an empty CSV cell, COCO visibility 0),
    never with NaN.
    """
    if isinstance(value, bool) or (not text and not isinstance(value, (int, float))):
        raise ExchangeError(f"{where}: expected a number, got {str(value)[:40]!r}")
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ExchangeError(f"{where}: expected a number, got {str(value)[:40]!r}") from None
    if math.isnan(v):
        raise ExchangeError(f"{where}: NaN is not a coordinate (leave the point out for no position)")
    if math.isinf(v) or abs(v) > MAX_COORDINATE:
        raise ExchangeError(f"{where}: coordinate {v:g} is out of range")
    return v


def check_state(value: object, where: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return LandmarkState(str(value).strip().lower()).value
    except ValueError:
        raise ExchangeError(f"{where}: unknown state {str(value)[:40]!r}") from None


class ExportRow(NamedTuple):
    """One exported image: its record, the name the export gives it, its points and states."""

    image: object  # core.project.ImageRecord
    name: str  # "<id><suffix>" (anonymised) or the source file name (identifiers included)
    points: np.ndarray  # (K, 2) float64 (x, y) px, NaN without a position
    states: list[str]  # LandmarkState values, schema order


def export_name(image, include_identifiers: bool = False) -> str:
    """The file name an export gives ``image``: its content id and suffix unless identifiers are wanted.

    Only an image suffix is kept: in ``DOE.JOHN`` or a file named after its UID the
    "suffix" is part of the identifier.
    """
    from core.imaging import SUPPORTED_SUFFIXES

    source = Path(image.path)
    if include_identifiers:
        return source.name
    suffix = source.suffix.lower()
    return image.id + (suffix if suffix in SUPPORTED_SUFFIXES else "")


def export_rows(project, include_identifiers: bool = False, reviewed_only: bool = False) -> list[ExportRow]:
    """The images an export writes, in project order (``reviewed_only``: ``ImageRecord.reviewed`` ones)."""
    images = [im for im in project.images if im.reviewed or not reviewed_only]
    names = project.schema.landmarks
    return [ExportRow(im, export_name(im, include_identifiers), im.positions(),
                      [im.landmarks[n].state.value for n in names]) for im in images]


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Publish an exported file atomically (a crash never leaves half a file behind)."""
    data = text.encode(encoding)
    atomic_write(path, lambda fh: fh.write(data))
    return path
