"""JSON dict -> :class:`~core.schema.LandmarkSchema` parsing, and the to-dict helpers.

The JSON format is described in the :mod:`core.schema` package docstring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.schema.elements import _N_POINTS, Measurement, SchemaError, SegmentationClass
from core.schema.geometry import derive_edges

if TYPE_CHECKING:
    from core.schema.model import LandmarkSchema


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
