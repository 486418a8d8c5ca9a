"""Invariants of a :class:`~core.schema.LandmarkSchema`, checked (and sequences normalised) on construction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.schema.elements import SchemaError

if TYPE_CHECKING:
    from core.schema.elements import Measurement
    from core.schema.model import LandmarkSchema


def _as_index(v: object, k: int, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise SchemaError(f"{where}: landmark index must be an integer, got {v!r}")
    if not 0 <= int(v) < k:
        raise SchemaError(f"{where}: landmark index {int(v)} out of range 0..{k - 1}")
    return int(v)


def _validate(s: LandmarkSchema) -> None:
    """Check a schema's invariants, normalising sequences to tuples and edges to sorted ``i < j``."""
    put = lambda attr, value: object.__setattr__(s, attr, value)  # noqa: E731  (frozen dataclass)
    if not isinstance(s.name, str) or not s.name:
        raise SchemaError("schema name must be a non-empty string")
    put("landmarks", tuple(s.landmarks))
    put("labels", tuple(s.labels))
    k = len(s.landmarks)
    if k == 0 or not all(isinstance(n, str) and n for n in s.landmarks):
        raise SchemaError(f"schema {s.name!r}: landmarks must be non-empty strings, at least one")
    if len(set(s.landmarks)) != k:
        raise SchemaError(f"schema {s.name!r}: duplicate landmark names")
    if len(s.labels) != k:
        raise SchemaError(f"schema {s.name!r}: {len(s.labels)} labels for {k} landmarks")

    pairs = tuple(tuple(_as_index(i, k, "pair") for i in p) for p in s.pairs)
    paired = [i for p in pairs for i in p]
    if any(len(p) != 2 or p[0] == p[1] for p in pairs) or len(set(paired)) != len(paired):
        raise SchemaError(f"schema {s.name!r}: pairs must join two distinct landmarks, each in one pair at most")
    put("pairs", pairs)

    levels = tuple(tuple(_as_index(i, k, "level") for i in lv) for lv in s.levels)
    level_of = {}
    for li, lv in enumerate(levels):
        if not lv:
            raise SchemaError(f"schema {s.name!r}: level {li + 1} is empty")
        for i in lv:
            if i in level_of:
                raise SchemaError(f"schema {s.name!r}: landmark {s.landmarks[i]!r} is in more than one level")
            level_of[i] = li
    for r, l in pairs:
        if level_of.get(r) != level_of.get(l):
            raise SchemaError(
                f"schema {s.name!r}: pair {s.landmarks[r]!r}/{s.landmarks[l]!r} must share a level"
            )
    put("levels", levels)

    edges = set()
    for e in s.edges:
        i, j = (_as_index(v, k, "edge") for v in e) if len(e) == 2 else (None, None)
        if i is None or i == j:
            raise SchemaError(f"schema {s.name!r}: an edge must join two distinct landmarks, got {tuple(e)!r}")
        edges.add((min(i, j), max(i, j)))
    put("edges", tuple(sorted(edges)))

    classes = tuple(s.segmentation_classes)
    if len({c.name for c in classes}) != len(classes) or len({c.bit for c in classes}) != len(classes):
        raise SchemaError(f"schema {s.name!r}: segmentation class names and bits must be unique")
    if any(not isinstance(c.bit, (int, np.integer)) or isinstance(c.bit, bool) or c.bit <= 0 for c in classes):
        raise SchemaError(f"schema {s.name!r}: segmentation class bits must be positive integers")
    put("segmentation_classes", classes)
    lclasses = tuple(s.landmark_classes)
    if len(lclasses) != k:
        raise SchemaError(f"schema {s.name!r}: {len(lclasses)} landmark classes for {k} landmarks")
    for c in lclasses:
        if c is not None and (isinstance(c, bool) or not isinstance(c, (int, np.integer))
                              or not 0 <= c < len(classes)):
            raise SchemaError(f"schema {s.name!r}: landmark class {c!r} is not a segmentation class index")
    put("landmark_classes", tuple(None if c is None else int(c) for c in lclasses))

    _validate_measurements(s, tuple(s.measurements))


def _validate_measurements(s: LandmarkSchema, ms: tuple[Measurement, ...]) -> None:
    object.__setattr__(s, "measurements", ms)
    by_name = {m.name: m for m in ms}
    if len(by_name) != len(ms):
        raise SchemaError(f"schema {s.name!r}: duplicate measurement names")
    for m in ms:
        for p in m.points:
            if p not in s.landmarks:
                raise SchemaError(f"measurement {m.name!r}: unknown landmark {p!r}")
        for o in m.of:
            if o == m.name:
                raise SchemaError(f"measurement {m.name!r} cannot be computed from itself")
            if o not in by_name:
                raise SchemaError(f"measurement {m.name!r}: 'of' names unknown measurement {o!r}")
    state: dict[str, int] = {}  # 1 visiting, 2 done: depth-first search for cycles

    def visit(name: str) -> None:
        if state.get(name) == 1:
            raise SchemaError(f"measurement {name!r} depends on itself")
        if state.get(name) != 2:
            state[name] = 1
            for o in by_name[name].of:
                visit(o)
            state[name] = 2

    for m in ms:
        visit(m.name)
