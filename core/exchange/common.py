"""What every format shares: the error type, imported records, matching images, the dispatch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from core.project.records import LandmarkRecord, LandmarkState, utc_now
from core.project.transitions import model_origin

EXPORT_FORMATS = ("csv", "coco", "labelme", "isbi", "dicom-sr")
IMPORT_FORMATS = ("csv", "coco", "labelme", "isbi")
#: ``state`` choices of an import: one state for every imported point, or the file's own.
IMPORT_STATES = ("corrected", "verified", "predicted", "file")
#: Largest import file read (bytes): landmark files are small; more is a mistake or hostile.
MAX_FILE_BYTES = 256 * 1024 * 1024


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


@dataclass
class ImportResult:
    images: int = 0
    landmarks: int = 0
    unmatched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"imported {self.landmarks} landmarks on {self.images} images"
        if self.unmatched:
            text += f"; {len(self.unmatched)} not in the project: {', '.join(self.unmatched[:5])}"
        return text


def read_text(path: Path, what: str) -> str:
    """A file's text (UTF-8, BOM allowed), with every failure as ExchangeError."""
    p = Path(path)
    try:
        if p.is_dir():
            raise ExchangeError(f"{p}: is a folder, expected a {what} file")
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ExchangeError(f"{p.name}: too large for a {what} file")
        return p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ExchangeError(f"{p}: file not found") from None
    except UnicodeDecodeError:
        raise ExchangeError(f"{p.name}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ExchangeError(f"{p.name}: cannot read ({exc.strerror or exc})") from None


def number(value: object, where: str) -> float:
    """A finite-or-NaN float from a file value; ExchangeError otherwise."""
    if isinstance(value, bool):
        raise ExchangeError(f"{where}: expected a number, got {value!r}")
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ExchangeError(f"{where}: expected a number, got {str(value)[:40]!r}") from None
    if math.isinf(v) or abs(v) > 1e7:
        raise ExchangeError(f"{where}: coordinate {v} is out of range")
    return v


def check_state(value: object, where: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return LandmarkState(str(value).strip().lower()).value
    except ValueError:
        raise ExchangeError(f"{where}: unknown state {str(value)[:40]!r}") from None


def image_rows(project):
    """(image, file name, points (K, 2), states) for each project image, in project order."""
    names = project.schema.landmarks
    for image in project.images:
        states = [image.landmarks[n].state.value for n in names]
        yield image, Path(image.path).name, image.positions(), states


def _match(project) -> dict[str, str]:
    """Keys a file may use for each image (file name, stem, id; lower case) -> image id."""
    keys: dict[str, str] = {}
    for image in project.images:
        p = Path(image.path)
        for key in (image.id, p.stem, p.name):
            keys.setdefault(key.lower(), image.id)
    return keys


def apply_import(project, images: list[ImportedImage], fmt: str, file: Path | str,
                 state: str = "corrected") -> ImportResult:
    """Write imported landmarks into ``project`` (not saved), matched to its images by name or id.

    ``state``: "corrected" (default), "verified" or "predicted" for every point
    with a position, or "file" to keep the file's states (points without one
    are corrected). Absent/missing entries of a file with states mark the
    landmark absent/missing; others leave it as it is. Each record's source is
    ``import:<fmt>:<file name>``; a model position it replaces is kept as
    ``original``. ExchangeError when no image of the file is in the project.
    """
    if state not in IMPORT_STATES:
        raise ExchangeError(f"import state must be one of {', '.join(IMPORT_STATES)}, got {state!r}")
    keys = _match(project)
    schema_names = set(project.schema.landmarks)
    source = f"import:{fmt}:{Path(file).name}"
    result = ImportResult()
    matched = []
    for item in images:
        image_id = keys.get(item.key.lower()) or keys.get(Path(item.key).name.lower()) \
            or keys.get(Path(item.key).stem.lower())
        if image_id is None:
            result.unmatched.append(item.key)
            continue
        unknown = set(item.points) - schema_names
        if unknown:
            raise ExchangeError(f"{Path(file).name}: landmark {sorted(unknown)[0]!r} is not in schema "
                                f"{project.schema.name!r}")
        matched.append((image_id, item))
    if not matched:
        raise ExchangeError(f"{Path(file).name}: none of its {len(images)} images is in the project "
                            f"(matched by file name or image id)")
    project._check_writable()
    now = utc_now()
    for image_id, item in matched:
        image = project.image(image_id)
        result.images += 1
        for name, (x, y, file_state) in item.points.items():
            old = image.landmarks[name]
            positioned = math.isfinite(x) and math.isfinite(y)
            if positioned:
                chosen = (file_state if state == "file" and file_state else
                          "corrected" if state == "file" else state)
                if not LandmarkState(chosen).has_position:
                    chosen = "corrected"
                origin = model_origin(old)
                new = LandmarkRecord(x, y, LandmarkState(chosen), source, now, origin,
                                     old.confidence if origin is not None else None)
            elif file_state in ("absent", "missing"):
                if file_state == "absent":
                    origin = model_origin(old)
                    new = LandmarkRecord(math.nan, math.nan, LandmarkState.ABSENT, source, now, origin,
                                         old.confidence if origin is not None else None)
                else:
                    new = LandmarkRecord.missing(now, source=source)
            else:
                continue
            project.restore(image_id, name, new, action="import")
            result.landmarks += 1
    return result


def _module(fmt: str):
    from core.exchange import coco, csv_format, dicom_sr, isbi, labelme

    modules = {"csv": csv_format, "coco": coco, "labelme": labelme, "isbi": isbi, "dicom-sr": dicom_sr}
    if fmt not in modules:
        raise ExchangeError(f"unknown format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})")
    return modules[fmt]


def export_project(project, fmt: str, out: Path | str, include_identifiers: bool = False) -> list[Path]:
    """Write ``project``'s landmarks in ``fmt`` to ``out`` (a file for csv/coco, a folder otherwise).

    ``include_identifiers`` (DICOM SR only): copy the source image's patient and
    study attributes; by default they are replaced by anonymised values.
    Returns the files written.
    """
    module = _module(fmt)
    if not project.images:
        raise ExchangeError("the project has no images to export")
    if fmt == "dicom-sr":
        return module.export(project, Path(out), include_identifiers=include_identifiers)
    return module.export(project, Path(out))


def import_file(project, path: Path | str, fmt: str, state: str = "corrected") -> ImportResult:
    """Read ``path`` in ``fmt`` and apply it to ``project`` (see :func:`apply_import`); not saved."""
    if fmt not in IMPORT_FORMATS:
        raise ExchangeError(f"cannot import format {fmt!r} (one of {', '.join(IMPORT_FORMATS)})")
    images = _module(fmt).read(Path(path), project.schema)
    return apply_import(project, images, fmt, path, state)
