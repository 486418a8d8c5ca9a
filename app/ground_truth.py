"""Reference positions for an image when a data set beside it has them (Qt-free).

Research data sets in the shared layout (``<set>/images/<id>.png`` with
``<set>/landmarks_<schema>.csv`` or ``<set>/landmarks.csv`` holding ``id`` and
``<name>_x``, ``<name>_y`` columns) carry ground truth; the landmark panel then shows
each point's error. Anything else simply has none (the panel shows "—").
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np


@lru_cache(maxsize=16)
def _read_table(path: str, mtime_ns: int) -> tuple[tuple[str, ...], dict[str, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = tuple(reader.fieldnames or ())
        if "id" not in header:
            return header, {}
        return header, {row["id"]: row for row in reader}


def _candidates(image_path: Path, schema_name: str) -> list[Path]:
    out = []
    for folder in (image_path.parent, image_path.parent.parent):
        out += [folder / f"landmarks_{schema_name}.csv", folder / "landmarks.csv"]
    return [p for p in out if p.is_file()]


def ground_truth(image_path: str | Path, schema_name: str, names: tuple[str, ...]) -> np.ndarray | None:
    """(K, 2) reference (x, y) pixels in ``names`` order, NaN rows where unknown; None when none found."""
    image_path = Path(image_path)
    for table in _candidates(image_path, schema_name):
        try:
            header, rows = _read_table(str(table), table.stat().st_mtime_ns)
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        if not all(f"{n}_x" in header and f"{n}_y" in header for n in names):
            continue
        row = rows.get(image_path.stem)
        if row is None:
            continue
        out = np.full((len(names), 2), np.nan)
        for k, n in enumerate(names):
            try:
                out[k] = (float(row[f"{n}_x"]), float(row[f"{n}_y"]))
            except (TypeError, ValueError):
                pass
        return out
    return None
