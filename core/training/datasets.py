"""Dataset adapters: the layouts of ``../shared/data`` and a generic CSV layout.

Every adapter yields :class:`Sample` objects whose points are ``(x, y)`` pixels of
the stored image (ADR 0001), NaN where a landmark is missing.

Layouts recognised by :func:`load_dataset`:

- ``chest_jsrt``: ``landmarks_chest6.csv`` (``id, split, <name>_x, <name>_y``),
  ``images/<id>.png``, ``masks/<id>.png``; stored at 0.35 mm/px.
- ``ceph_isbi2015``: ``landmarks.csv`` with ``senior_L*`` and ``junior_L*``
  columns and ``mm_per_px``; ground truth is the mean of the two doctors.
- ``hand_dha``: ``landmarks.csv`` with ``mm_per_px_x, mm_per_px_y, L1_x …``.
- generic: ``landmarks.csv`` with ``id``, optional ``split``, optional
  ``mm_per_px`` or ``mm_per_px_x/_y``, and ``<landmark>_x, <landmark>_y`` for the
  landmarks of a schema (given, or matched by column names).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.schema import LandmarkSchema, available_schemas, load_schema

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")
JSRT_MM_PER_PX = 0.35  # 2048² at 0.175 mm/px stored at 1024² (data README)


class DatasetError(ValueError):
    """A dataset folder that cannot be read; ``str(e)`` is one human line."""


@dataclass
class Sample:
    id: str
    image_path: Path
    points: np.ndarray  # (K, 2) float64 px (x, y), NaN = missing
    spacing: tuple[float, float] | None = None  # mm per px (x, y)
    split: str | None = None
    mask_path: Path | None = None
    observers: np.ndarray | None = None  # (n_observers, K, 2) when several annotators
    #: (K,) bool: positions a person accepted as a model placed them (project reviews): the truth lies
    #: within the reviewer's tolerance of them, where exactly is unknown (core.learning.validation)
    accepted: np.ndarray | None = None


@dataclass
class LandmarkDataset:
    name: str
    root: Path
    schema: LandmarkSchema
    samples: list[Sample] = field(default_factory=list)

    @property
    def splits(self) -> list[str]:
        return sorted({s.split for s in self.samples if s.split is not None})

    def subset(self, split: str | None) -> "LandmarkDataset":
        """Samples of one split (None = all); unknown split names are an error."""
        if split is None:
            return self
        if split not in self.splits:
            known = ", ".join(self.splits) or "none"
            raise DatasetError(f"{self.root}: no split {split!r} (splits: {known})")
        return replace(self, samples=[s for s in self.samples if s.split == split])

    def __len__(self) -> int:
        return len(self.samples)

    def points(self) -> np.ndarray:
        """(N, K, 2) ground truth of every sample."""
        return np.stack([s.points for s in self.samples]) if self.samples else np.zeros((0, self.schema.n_landmarks, 2))


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read landmark table ({exc})") from exc


def _float(value: str | None) -> float:
    if value is None or value.strip() == "":
        return float("nan")
    try:
        return float(value)
    except ValueError:
        return float("nan")


def _find_image(images: Path, sample_id: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        candidate = images / f"{sample_id}{suffix}"
        if candidate.exists():
            return candidate
    raise DatasetError(f"{images}: no image for id {sample_id!r}")


#: Largest plausible coordinate (px); beyond it a value is an export error, not a landmark.
MAX_COORDINATE = 1e6


def _points(row: dict[str, str], names: list[str], prefix: str = "") -> np.ndarray:
    """(K, 2) points of a row; empty/unparsable cells are missing (NaN), infinite or absurd ones an error."""
    points = np.array([[_float(row.get(f"{prefix}{n}_x")), _float(row.get(f"{prefix}{n}_y"))] for n in names])
    bad = np.isinf(points) | (np.abs(np.nan_to_num(points)) > MAX_COORDINATE)
    if bad.any():
        k = int(np.argwhere(bad)[0][0])
        raise DatasetError(f"row {row.get('id')!r}: landmark {prefix}{names[k]} has an impossible coordinate "
                           f"({points[k].tolist()}); expected pixels below {MAX_COORDINATE:.0e}")
    return points


def _spacing(row: dict[str, str]) -> tuple[float, float] | None:
    if "mm_per_px_x" in row:
        sx, sy = _float(row.get("mm_per_px_x")), _float(row.get("mm_per_px_y"))
    else:
        sx = sy = _float(row.get("mm_per_px"))
    if not (np.isfinite(sx) and np.isfinite(sy) and sx > 0 and sy > 0):
        return None
    return (sx, sy)


def _load_chest(root: Path) -> LandmarkDataset:
    schema = load_schema("chest6")
    _, rows = _read_csv(root / "landmarks_chest6.csv")
    samples = []
    for row in rows:
        mask = root / "masks" / f"{row['id']}.png"
        samples.append(
            Sample(
                id=row["id"],
                image_path=_find_image(root / "images", row["id"]),
                points=_points(row, list(schema.landmarks)),
                spacing=(JSRT_MM_PER_PX, JSRT_MM_PER_PX),
                split=row.get("split") or None,
                mask_path=mask if mask.exists() else None,
            )
        )
    return LandmarkDataset("chest_jsrt", root, schema, samples)


def _load_ceph(root: Path, fields: list[str], rows: list[dict[str, str]]) -> LandmarkDataset:
    schema = load_schema("ceph19")
    numbers = [f"L{i + 1}" for i in range(schema.n_landmarks)]
    samples = []
    for row in rows:
        senior = _points(row, numbers, "senior_")
        junior = _points(row, numbers, "junior_")
        observers = np.stack([senior, junior])
        samples.append(
            Sample(
                id=row["id"],
                image_path=_find_image(root / "images", row["id"]),
                points=np.nanmean(observers, axis=0) if np.isfinite(observers).any() else senior,
                spacing=_spacing(row),
                split=row.get("split") or None,
                observers=observers,
            )
        )
    return LandmarkDataset(root.name, root, schema, samples)


def _match_schema(fields: list[str]) -> LandmarkSchema:
    columns = set(fields)
    for name in available_schemas():
        schema = load_schema(name)
        if all(f"{n}_x" in columns and f"{n}_y" in columns for n in schema.landmarks):
            return schema
    raise DatasetError("no bundled schema matches the landmark columns; pass a schema")


def _load_generic(root: Path, table: Path, schema: LandmarkSchema | None) -> LandmarkDataset:
    fields, rows = _read_csv(table)
    if "id" not in fields:
        raise DatasetError(f"{table}: no 'id' column")
    if schema is None:
        if "L1_x" in fields and "mm_per_px_x" in fields and "L37_x" in fields:
            schema = load_schema("hand37")
            names = [f"L{i + 1}" for i in range(schema.n_landmarks)]
        else:
            schema = _match_schema(fields)
            names = list(schema.landmarks)
    else:
        names = list(schema.landmarks)
        missing = [n for n in names if f"{n}_x" not in fields]
        if missing and all(f"L{i + 1}_x" in fields for i in range(schema.n_landmarks)):
            names = [f"L{i + 1}" for i in range(schema.n_landmarks)]
        elif missing:
            raise DatasetError(f"{table}: missing columns for {', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}")
    samples = [
        Sample(
            id=row["id"],
            image_path=_find_image(root / "images", row["id"]),
            points=_points(row, names),
            spacing=_spacing(row),
            split=row.get("split") or None,
        )
        for row in rows
    ]
    return LandmarkDataset(root.name, root, schema, samples)


def load_dataset(root: str | Path, split: str | None = None, schema: LandmarkSchema | None = None) -> LandmarkDataset:
    """Read a dataset folder in one of the layouts above, optionally one split."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a dataset folder")
    if (root / "landmarks_chest6.csv").exists() and schema is None:
        dataset = _load_chest(root)
    else:
        table = root / "landmarks.csv"
        if not table.exists():
            raise DatasetError(f"{root}: no landmarks.csv or landmarks_chest6.csv")
        fields, rows = _read_csv(table)
        if schema is None and "senior_L1_x" in fields:
            dataset = _load_ceph(root, fields, rows)
        else:
            dataset = _load_generic(root, table, schema)
    if not dataset.samples:
        raise DatasetError(f"{root}: the landmark table has no rows")
    return dataset.subset(split)
