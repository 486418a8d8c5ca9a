"""Reference positions (and pixel spacing) for an image when a data set beside it has them (Qt-free).

A research data set in one of the layouts ``core.training.datasets`` reads (``chest_jsrt``, the
ISBI 2015 cephalograms with two doctors' points, ``hand_dha``, the generic ``images/`` +
``landmarks.csv``) gives each of its images ground truth — the doctors' mean for cephalograms —
and, where its table has one, a pixel spacing. The landmark panel then shows each point's error,
in mm when the spacing is known, and the viewer uses the spacing when the image file has none
(ISBI JPEGs). Anything else simply has none (the panel shows "—"). One reader, the engine's:
the app and ``anatomark evaluate`` agree on what the truth is.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

_TABLES = ("landmarks_chest6.csv", "landmarks.csv")


def _dataset_root(image_path: Path) -> Path | None:
    """The data set folder of ``<set>/images/<id>.<ext>``, when it has a landmark table."""
    if image_path.parent.name != "images":
        return None
    root = image_path.parent.parent
    return root if any((root / t).is_file() for t in _TABLES) else None


@lru_cache(maxsize=8)
def _samples(root: str, stamp: tuple) -> tuple[tuple[str, ...], dict[str, tuple[np.ndarray, tuple[float, float] | None]]]:
    """(landmark names, {image stem: (points, spacing)}) of a data set folder; empty when unreadable."""
    from core.training.datasets import load_dataset

    try:
        dataset = load_dataset(root)
    except Exception:  # not a data set after all, or a damaged table: no reference
        return (), {}
    return tuple(dataset.schema.landmarks), {Path(s.image_path).stem: (s.points, s.spacing) for s in dataset.samples}


def _reference(image_path: str | Path) -> tuple[tuple[str, ...], tuple[np.ndarray, tuple[float, float] | None] | None]:
    image_path = Path(image_path)
    root = _dataset_root(image_path)
    if root is None:
        return (), None
    stamp = tuple((t, (root / t).stat().st_mtime_ns) for t in _TABLES if (root / t).is_file())
    names, samples = _samples(str(root), stamp)
    return names, samples.get(image_path.stem)


def ground_truth(image_path: str | Path, schema_name: str, names: tuple[str, ...]) -> np.ndarray | None:
    """(K, 2) reference (x, y) pixels in ``names`` order, NaN rows where unknown; None when none found."""
    table_names, found = _reference(image_path)
    if found is None or tuple(table_names) != tuple(names):
        return None
    return np.array(found[0], dtype=np.float64)


def reference_spacing(image_path: str | Path) -> tuple[float, float] | None:
    """The (x, y) mm per pixel the image's data set table gives it, or None."""
    _names, found = _reference(image_path)
    return None if found is None or found[1] is None else tuple(found[1])
