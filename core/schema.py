"""Landmark schemas: names, left/right pairs, vertical levels, graph edges,
segmentation classes and derived measurements (DESIGN.md 1 "Annotate", 2.1, 2.3).

A schema is the contract between a project, its models and its views. In the
:class:`LandmarkSchema` dataclass landmarks are referred to by index (the order
of ``landmarks`` is the channel order of every heatmap and point array); in
JSON they are referred to by name.

JSON format (``resources/schemas/<name>.json`` or any file)::

    {
      "name": "chest6",                        # required, short identifier
      "title": "Chest PA, 6 landmarks",        # optional, defaults to name
      "description": "...",                    # optional
      "landmarks": [                           # required, order = channel order
        {"name": "R_apex", "label": "Right lung apex", "class": "right_lung"},
        ...                                    # "label" defaults to name, "class"
      ],                                       #   is a segmentation class name or null
      "pairs": [["R_apex", "L_apex"], ...],    # optional, (patient's right, patient's left)
      "levels": [["R_apex", "L_apex"], ...],   # optional, top -> bottom
      "edges": [["S", "N"], ...],              # optional; absent -> derive_edges()
      "segmentation_classes": [                # optional
        {"name": "right_lung", "label": "Right lung", "bit": 1}, ...
      ],
      "measurements": [                        # optional
        {"name": "SNA", "kind": "angle", "points": ["S", "N", "A"],
         "unit": "deg", "label": "SNA angle"},
        {"name": "ANB", "kind": "difference", "of": ["SNA", "SNB"], "unit": "deg"}
      ]
    }

Measurement kinds: ``distance`` (2 points), ``angle`` (3 points, the angle at
the middle one, 0..180 degrees), ``difference`` (first minus second of two
other measurements) and ``ratio`` (first over second). A missing ``unit``
defaults to "mm" for distances, "deg" for angles, the first operand's unit for
differences and "" for ratios. Unknown keys are rejected (they are usually
typos). Every problem raises :class:`SchemaError` with a one-line message.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.resources import schemas_dir

MEASUREMENT_KINDS = ("distance", "angle", "difference", "ratio")
_N_POINTS = {"distance": 2, "angle": 3}


class SchemaError(ValueError):
    """A schema that cannot be used; the message is one line, fit for a dialog."""


@dataclass(frozen=True)
class SegmentationClass:
    """One mask class; ``bit`` is its value / bit flag in mask PNGs (chest: 1, 2, 4, 8, 16)."""

    name: str
    label: str
    bit: int


@dataclass(frozen=True)
class Measurement:
    """A quantity derived from landmark positions.

    ``points`` name landmarks (distance: 2; angle: 3, vertex in the middle, the
    angle A-B-C at B); ``of`` names two other measurements (difference: first
    minus second; ratio: first over second).
    """

    name: str
    kind: str
    points: tuple[str, ...] = ()
    of: tuple[str, ...] = ()
    unit: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.points, str) or isinstance(self.of, str):
            raise SchemaError(f"measurement {self.name!r}: 'points' and 'of' must be sequences of names")
        object.__setattr__(self, "points", tuple(self.points))
        object.__setattr__(self, "of", tuple(self.of))
        if not isinstance(self.name, str) or not self.name:
            raise SchemaError("measurement name must be a non-empty string")
        if self.kind not in MEASUREMENT_KINDS:
            raise SchemaError(
                f"measurement {self.name!r}: kind {self.kind!r} is not one of {', '.join(MEASUREMENT_KINDS)}"
            )
        if self.kind in _N_POINTS:
            n = _N_POINTS[self.kind]
            if len(self.points) != n or self.of:
                raise SchemaError(f"measurement {self.name!r}: a {self.kind} needs {n} points and no 'of'")
            if len(set(self.points)) != n:
                raise SchemaError(f"measurement {self.name!r}: points must be distinct")
        elif len(self.of) != 2 or self.points:
            raise SchemaError(f"measurement {self.name!r}: a {self.kind} needs 'of' with 2 measurements and no points")


@dataclass(frozen=True)
class LandmarkSchema:
    """Landmark names plus the structure models, losses and views use.

    ``pairs`` are (patient's right, patient's left) landmark indices; ``levels``
    run top to bottom, pair members share a level; ``edges`` are undirected,
    ``i < j``, sorted and unique (normalised on construction);
    ``landmark_classes[k]`` indexes ``segmentation_classes`` or is None.
    """

    name: str
    title: str
    landmarks: tuple[str, ...]
    labels: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    levels: tuple[tuple[int, ...], ...]
    edges: tuple[tuple[int, int], ...]
    segmentation_classes: tuple[SegmentationClass, ...]
    landmark_classes: tuple[int | None, ...]
    measurements: tuple[Measurement, ...]
    description: str = ""

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def n_landmarks(self) -> int:
        return len(self.landmarks)

    def index(self, name: str) -> int:
        """Index of landmark ``name``; SchemaError if the schema has no such landmark."""
        try:
            return self.landmarks.index(name)
        except ValueError:
            raise SchemaError(f"schema {self.name!r} has no landmark {name!r}") from None

    def adjacency(self) -> np.ndarray:
        """(K, K) float32 symmetric 0/1 adjacency of ``edges``, zero diagonal."""
        k = self.n_landmarks
        a = np.zeros((k, k), dtype=np.float32)
        for i, j in self.edges:
            a[i, j] = a[j, i] = 1.0
        return a

    def normalized_adjacency(self) -> np.ndarray:
        """(K, K) float32 Â = D^-1/2 (A + I) D^-1/2, D the degree matrix of A + I (DESIGN.md 2.1)."""
        a = self.adjacency().astype(np.float64) + np.eye(self.n_landmarks)
        d = 1.0 / np.sqrt(a.sum(axis=1))
        return (d[:, None] * a * d[None, :]).astype(np.float32)

    def measurement_units(self, spacing: tuple[float, float] | None) -> dict[str, str]:
        """Unit of each value :meth:`compute_measurements` returns for this ``spacing``.

        Distances are "mm" with a spacing and "px" without; angles "deg";
        differences take their first operand's unit; ratios "".
        """
        by_name = {m.name: m for m in self.measurements}

        def unit(m: Measurement) -> str:
            if m.kind == "difference":
                return unit(by_name[m.of[0]])
            return {"distance": "px" if spacing is None else "mm", "angle": "deg"}.get(m.kind, "")

        return {m.name: unit(m) for m in self.measurements}

    def compute_measurements(
        self, points: np.ndarray, spacing: tuple[float, float] | None
    ) -> dict[str, float | None]:
        """Evaluate every measurement on one image.

        points: (K, 2) pixels, (x, y); NaN rows are missing landmarks.
        spacing: (sx, sy) mm per pixel along x and y, or None. With a spacing,
        distances are in mm and angles are measured in physical space (which
        matters for anisotropic pixels); without, distances are in px (see
        :meth:`measurement_units`). Angles are in degrees, 0..180.
        Returns name -> value, None where a point is missing or the value is
        undefined (zero-length arm, division by zero).
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.shape != (self.n_landmarks, 2):
            raise ValueError(f"points must have shape ({self.n_landmarks}, 2), got {pts.shape}")
        if spacing is not None:
            sx, sy = (float(s) for s in spacing)
            if not (sx > 0 and sy > 0 and math.isfinite(sx) and math.isfinite(sy)):
                raise ValueError(f"spacing must be two positive numbers, got {spacing!r}")
            pts = pts * np.array([sx, sy])
        by_name = {m.name: m for m in self.measurements}
        values: dict[str, float | None] = {}

        def value(m: Measurement) -> float | None:
            if m.name in values:
                return values[m.name]
            if m.kind in _N_POINTS:
                p = pts[[self.index(n) for n in m.points]]
                v = None if np.isnan(p).any() else _geometry(m.kind, p)
            else:
                a, b = (value(by_name[n]) for n in m.of)
                if a is None or b is None or (m.kind == "ratio" and b == 0):
                    v = None
                else:
                    v = a - b if m.kind == "difference" else a / b
            values[m.name] = v
            return v

        for m in self.measurements:
            value(m)
        return {m.name: values[m.name] for m in self.measurements}

    def to_dict(self) -> dict:
        """JSON-ready dict in the module's format; ``edges`` only when they differ from the derived ones."""
        names = self.landmarks
        classes = self.segmentation_classes
        d: dict = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "landmarks": [
                {"name": n, "label": lab, "class": None if c is None else classes[c].name}
                for n, lab, c in zip(names, self.labels, self.landmark_classes)
            ],
            "pairs": [[names[r], names[l]] for r, l in self.pairs],
            "levels": [[names[i] for i in level] for level in self.levels],
        }
        if list(self.edges) != derive_edges(self.n_landmarks, self.pairs, self.levels):
            d["edges"] = [[names[i], names[j]] for i, j in self.edges]
        d["segmentation_classes"] = [{"name": c.name, "label": c.label, "bit": c.bit} for c in classes]
        d["measurements"] = [_measurement_to_dict(m) for m in self.measurements]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LandmarkSchema:
        """Build and validate a schema from the JSON format; SchemaError on any problem."""
        try:
            return _from_dict(cls, d)
        except SchemaError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as e:  # malformed structure
            raise SchemaError(f"malformed schema: {type(e).__name__}: {e}".replace("\n", " ")) from e


def derive_edges(
    n: int, pairs: list[tuple[int, int]] | tuple, levels: list[tuple[int, ...]] | tuple
) -> list[tuple[int, int]]:
    """Graph edges from structure (DESIGN.md 2.1), sorted, ``i < j``.

    Joins each left-right pair, the same-side chain between consecutive levels
    (top -> middle -> bottom on each side) and the cross links between sides at
    adjacent levels. Together the last two connect every landmark of a level to
    every landmark of the next level; landmarks without a side (midline) follow
    the same rule. Landmarks in no pair and no level stay isolated.
    """
    edges: set[tuple[int, int]] = set()
    for r, l in pairs:
        edges.add((min(r, l), max(r, l)))
    for upper, lower in zip(levels, levels[1:]):
        for i in upper:
            for j in lower:
                if i != j:
                    edges.add((min(i, j), max(i, j)))
    for i, j in edges:
        if not (0 <= i < n and 0 <= j < n):
            raise SchemaError(f"landmark index out of range 0..{n - 1} in pairs or levels")
    return sorted(edges)


def available_schemas() -> list[str]:
    """Names of the bundled schemas (``resources/schemas/*.json``), sorted."""
    folder = schemas_dir()
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_schema(name_or_path: str | Path) -> LandmarkSchema:
    """Load a bundled schema by name ("chest6") or a schema JSON file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".json") or "/" in text or "\\" in text:
        path = Path(name_or_path)
    else:
        path = schemas_dir() / f"{text}.json"
        if not path.is_file():
            known = ", ".join(available_schemas()) or "none"
            raise SchemaError(f"no bundled schema {text!r} (available: {known})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SchemaError(f"{path}: cannot read schema ({e.strerror or e})") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SchemaError(f"{path}: not valid JSON ({e})".replace("\n", " ")) from e
    try:
        return LandmarkSchema.from_dict(data)
    except SchemaError as e:
        raise SchemaError(f"{path.name}: {e}") from e


# ---------------------------------------------------------------------------
# JSON parsing


_TOP_KEYS = {"name", "title", "description", "landmarks", "pairs", "levels", "edges",
             "segmentation_classes", "measurements"}


def _check_keys(d: object, allowed: set[str], where: str) -> dict:
    if not isinstance(d, dict):
        raise SchemaError(f"{where} must be a JSON object")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise SchemaError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
    return d


def _list(d: dict, key: str, where: str) -> list:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise SchemaError(f"{where}: {key!r} must be a list")
    return v


def _str(d: dict, key: str, where: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if v is None:
        raise SchemaError(f"{where}: missing {key!r}")
    if not isinstance(v, str):
        raise SchemaError(f"{where}: {key!r} must be a string")
    return v


def _from_dict(cls: type[LandmarkSchema], d: dict) -> LandmarkSchema:
    _check_keys(d, _TOP_KEYS, "schema")
    name = _str(d, "name", "schema")
    raw_landmarks = _list(d, "landmarks", "schema")
    if not raw_landmarks:
        raise SchemaError("schema: 'landmarks' must be a non-empty list")
    classes = []
    for i, c in enumerate(_list(d, "segmentation_classes", "schema")):
        _check_keys(c, {"name", "label", "bit"}, f"segmentation class {i + 1}")
        cname = _str(c, "name", f"segmentation class {i + 1}")
        bit = c.get("bit")
        if isinstance(bit, bool) or not isinstance(bit, int):
            raise SchemaError(f"segmentation class {cname!r}: 'bit' must be an integer")
        classes.append(SegmentationClass(cname, _str(c, "label", cname, cname), bit))
    class_index = {c.name: i for i, c in enumerate(classes)}

    names, labels, lclasses = [], [], []
    for i, lm in enumerate(raw_landmarks):
        if isinstance(lm, str):  # shorthand: just the name
            lm = {"name": lm}
        _check_keys(lm, {"name", "label", "class"}, f"landmark {i + 1}")
        lname = _str(lm, "name", f"landmark {i + 1}")
        names.append(lname)
        labels.append(_str(lm, "label", lname, lname))
        cname = lm.get("class")
        if cname is not None and cname not in class_index:
            raise SchemaError(f"landmark {lname!r}: unknown segmentation class {cname!r}")
        lclasses.append(None if cname is None else class_index[cname])
    if len(set(names)) != len(names):
        raise SchemaError(f"duplicate landmark name(s): {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    index = {n: i for i, n in enumerate(names)}

    def idx(n: object, where: str) -> int:
        if not isinstance(n, str) or n not in index:
            raise SchemaError(f"{where}: unknown landmark {n!r}")
        return index[n]

    def group(raw: object, size: int | None, where: str) -> tuple[int, ...]:
        if not isinstance(raw, list) or (size is not None and len(raw) != size) or not raw:
            raise SchemaError(f"{where} must be a list of {size or 'one or more'} landmark names")
        return tuple(idx(n, where) for n in raw)

    pairs = tuple(group(p, 2, f"pair {i + 1}") for i, p in enumerate(_list(d, "pairs", "schema")))
    levels = tuple(group(v, None, f"level {i + 1}") for i, v in enumerate(_list(d, "levels", "schema")))
    if d.get("edges") is None:
        edges = tuple(derive_edges(len(names), pairs, levels))
    else:
        edges = tuple(group(e, 2, f"edge {i + 1}") for i, e in enumerate(_list(d, "edges", "schema")))

    raw_ms = _list(d, "measurements", "schema")
    for i, m in enumerate(raw_ms):
        _check_keys(m, {"name", "kind", "points", "of", "unit", "label"}, f"measurement {i + 1}")
    raw_by_name = {m.get("name"): m for m in raw_ms}

    def default_unit(m: dict, seen: tuple = ()) -> object:
        if "unit" in m:
            return m["unit"]
        if m.get("kind") == "difference":
            first = (m.get("of") or [None])[0]
            if isinstance(first, str) and first in raw_by_name and first not in seen:
                return default_unit(raw_by_name[first], seen + (first,))
        return {"distance": "mm", "angle": "deg"}.get(m.get("kind"), "")

    measurements = []
    for i, m in enumerate(raw_ms):
        where = f"measurement {i + 1}"
        pts, of = m.get("points", []), m.get("of", [])
        if not isinstance(pts, list) or not isinstance(of, list):
            raise SchemaError(f"{where}: 'points' and 'of' must be lists")
        unit = default_unit(m)
        if not isinstance(unit, str):
            raise SchemaError(f"{where}: 'unit' must be a string")
        measurements.append(Measurement(_str(m, "name", where), _str(m, "kind", where), tuple(pts),
                                        tuple(of), unit, _str(m, "label", where, "")))

    return cls(name=name, title=_str(d, "title", "schema", name), landmarks=tuple(names), labels=tuple(labels),
               pairs=pairs, levels=levels, edges=edges, segmentation_classes=tuple(classes),
               landmark_classes=tuple(lclasses), measurements=tuple(measurements),
               description=_str(d, "description", "schema", ""))


def _measurement_to_dict(m: Measurement) -> dict:
    d: dict = {"name": m.name, "kind": m.kind}
    if m.kind in _N_POINTS:
        d["points"] = list(m.points)
    else:
        d["of"] = list(m.of)
    d["unit"] = m.unit
    d["label"] = m.label
    return d


# ---------------------------------------------------------------------------
# Validation and geometry


def _geometry(kind: str, p: np.ndarray) -> float | None:
    """Distance between p[0], p[1], or the angle p[0]-p[1]-p[2] at p[1] in degrees."""
    if kind == "distance":
        return float(np.hypot(*(p[1] - p[0])))
    u, v = p[0] - p[1], p[2] - p[1]
    if not (np.hypot(*u) > 0 and np.hypot(*v) > 0):
        return None
    cross = u[0] * v[1] - u[1] * v[0]
    return float(np.degrees(np.arctan2(abs(cross), float(u @ v))))


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
