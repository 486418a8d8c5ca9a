"""Imported landmarks into a project: match the file's images, check every point, then write.

An import is planned first (:func:`plan_import`: every check, no change) and
applied after (:func:`apply_import`), so a file with one bad point changes
nothing. The app pushes the plan's changes as one undo step; the CLI applies
and saves. What an import refuses (ExchangeError, nothing changed): a landmark
the schema does not have, an image named twice, a point outside its image,
a file none of whose images is in the project. What it skips and reports
(``ImportResult.unmatched``): images of the file that are not in the project.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from core.exchange.common import ExchangeError, ImportedImage
from core.project.records import LandmarkRecord, LandmarkState, utc_now
from core.project.transitions import model_origin

#: ``state`` choices of an import: one state for every imported point, or the file's own.
IMPORT_STATES = ("corrected", "verified", "predicted", "file")
#: How far outside the image extent (px) a point may lie: half a pixel more than the pixel
#: centres' extent, so files written with the origin at the pixel corner still import.
_SLACK = 0.5


@dataclass
class ImportResult:
    images: int = 0
    landmarks: int = 0
    unmatched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"imported {self.landmarks} landmarks on {self.images} images"
        if self.unmatched:
            text += f"; skipped {len(self.unmatched)} not in the project: {', '.join(self.unmatched[:5])}"
            text += ", …" if len(self.unmatched) > 5 else ""
        return text


@dataclass
class ImportChange:
    """One landmark an import replaces: its record before and after."""

    image_id: str
    name: str
    before: LandmarkRecord
    after: LandmarkRecord


@dataclass
class ImportPlan:
    """What an import will do; nothing is changed until it is applied."""

    changes: list[ImportChange]
    result: ImportResult


def _match(project) -> dict[str, str]:
    """Keys a file may use for each image (file name, stem, id; lower case) -> image id."""
    keys: dict[str, str] = {}
    for image in project.images:
        p = Path(image.path)
        for key in (image.id, p.stem, p.name):
            keys.setdefault(key.lower(), image.id)
    return keys


def _inside(image, x: float, y: float) -> bool:
    h, w = image.size
    return -0.5 - _SLACK <= x <= w - 0.5 + _SLACK and -0.5 - _SLACK <= y <= h - 0.5 + _SLACK


def _record(old: LandmarkRecord, x: float, y: float, file_state: str | None, state: str,
            source: str, now: str) -> LandmarkRecord | None:
    """The record an imported point becomes, or None when it leaves the landmark as it is."""
    if math.isfinite(x) and math.isfinite(y):
        chosen = (file_state if state == "file" and file_state else "corrected" if state == "file" else state)
        if not LandmarkState(chosen).has_position:
            chosen = "corrected"
        origin = model_origin(old)
        return LandmarkRecord(x, y, LandmarkState(chosen), source, now, origin,
                              old.confidence if origin is not None else None)
    if file_state == "absent":
        origin = model_origin(old)
        return LandmarkRecord(math.nan, math.nan, LandmarkState.ABSENT, source, now, origin,
                              old.confidence if origin is not None else None)
    if file_state == "missing":
        return LandmarkRecord.missing(now, source=source)
    return None


def plan_import(project, images: list[ImportedImage], fmt: str, file: Path | str,
                state: str = "corrected", keys: dict[str, str] | None = None) -> ImportPlan:
    """Check imported landmarks against ``project`` and say what they change (nothing is written).

    ``state``: "corrected" (default), "verified" or "predicted" for every point
    with a position, or "file" to keep the file's states (points without one
    are corrected). Absent/missing entries of a file with states mark the
    landmark absent/missing; others leave it as it is. Each record's source is
    ``import:<fmt>:<file name>``; a model position it replaces is kept as
    ``original``. ``keys``: more names (lower case) → image id, e.g. the SOP Instance UIDs a
    DICOM SR references images by. ExchangeError (see the module docstring) for a file that
    cannot be imported as a whole.
    """
    if state not in IMPORT_STATES:
        raise ExchangeError(f"import state must be one of {', '.join(IMPORT_STATES)}, got {state!r}")
    keys = {**_match(project), **(keys or {})}
    schema_names = set(project.schema.landmarks)
    fname = Path(file).name
    source = f"import:{fmt}:{fname}"
    result = ImportResult()
    matched: dict[str, ImportedImage] = {}
    for item in images:
        image_id = keys.get(item.key.lower()) or keys.get(Path(item.key).name.lower()) \
            or keys.get(Path(item.key).stem.lower())
        if image_id is None:
            result.unmatched.append(item.key[:80])
            continue
        if image_id in matched:
            raise ExchangeError(f"{fname}: image {item.key[:80]!r} appears twice (as "
                                f"{matched[image_id].key[:80]!r} too)")
        unknown = set(item.points) - schema_names
        if unknown:
            raise ExchangeError(f"{fname}: landmark {sorted(unknown)[0][:40]!r} is not in schema "
                                f"{project.schema.name!r}")
        image = project.image(image_id)
        for name, (x, y, _s) in item.points.items():
            if math.isfinite(x) and math.isfinite(y) and not _inside(image, x, y):
                h, w = image.size
                raise ExchangeError(f"{fname}: {name} of {item.key[:80]} at ({x:.6g}, {y:.6g}) lies outside "
                                    f"the {w}×{h} image")
        matched[image_id] = item
    if not matched:
        raise ExchangeError(f"{fname}: none of its {len(images)} images is in the project "
                            f"(matched by file name or image id{', or the SOP Instance UID it references' if fmt == 'dicom-sr' else ''})")
    now = utc_now()
    changes = []
    for image_id, item in matched.items():
        image = project.image(image_id)
        result.images += 1
        for name, (x, y, file_state) in item.points.items():
            new = _record(image.landmarks[name], x, y, file_state, state, source, now)
            if new is not None:
                changes.append(ImportChange(image_id, name, image.landmarks[name], new))
                result.landmarks += 1
    return ImportPlan(changes, result)


def apply_import(project, images: list[ImportedImage], fmt: str, file: Path | str,
                 state: str = "corrected", keys: dict[str, str] | None = None) -> ImportResult:
    """Write imported landmarks into ``project`` (not saved); see :func:`plan_import`."""
    plan = plan_import(project, images, fmt, file, state, keys)
    project._check_writable()
    for change in plan.changes:
        project.restore(change.image_id, change.name, change.after, action="import")
    return plan.result
