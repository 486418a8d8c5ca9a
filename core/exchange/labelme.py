"""labelme JSON: one ``<image stem>.json`` per image in a folder.

Each positioned landmark is a ``point`` shape (``label`` the landmark name,
``points`` [[x, y]]); the state goes in the shape's ``description``
(``"anatomark:corrected"``) and absent landmarks are listed in the file's
``flags`` as ``absent:<name>``. ``imagePath`` is the image's file name and
``imageData`` is null (labelme then loads the image beside the JSON).
Coordinates are our image pixels (ADR 0001) unchanged. Import reads one
JSON file or every ``*.json`` in a folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from core.exchange.common import ExchangeError, ExportRow, ImportedImage, check_state, number, read_text, write_text

LABELME_VERSION = "5.4.1"
_PREFIX = "anatomark:"


def export(project, out: Path, rows: list[ExportRow]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    names = project.schema.landmarks
    written = []
    for image, file_name, pts, states in rows:
        shapes, flags = [], {}
        for name, (x, y), s in zip(names, pts, states):
            if math.isfinite(x):
                shapes.append({"label": name, "points": [[float(x), float(y)]], "group_id": None,
                               "description": _PREFIX + s, "shape_type": "point", "flags": {}, "mask": None})
            elif s == "absent":
                flags[f"absent:{name}"] = True
        h, w = image.size
        doc = {"version": LABELME_VERSION, "flags": flags, "shapes": shapes, "imagePath": file_name,
               "imageData": None, "imageHeight": int(h), "imageWidth": int(w)}
        written.append(write_text(out / f"{Path(file_name).stem}.json", json.dumps(doc, indent=1)))
    return written


def read_one(path: Path, schema) -> ImportedImage:
    try:
        doc = json.loads(read_text(path, "labelme JSON"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ExchangeError(f"{path.name}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise ExchangeError(f"{path.name}: not a labelme file (no 'shapes' list)")
    if doc.get("imagePath") is not None and not isinstance(doc.get("imagePath"), str):
        raise ExchangeError(f"{path.name}: 'imagePath' must be a file name")
    key = doc.get("imagePath") if isinstance(doc.get("imagePath"), str) and doc.get("imagePath") else path.stem
    item = ImportedImage(Path(key.replace("\\", "/")).name)
    for n, shape in enumerate(doc["shapes"], start=1):
        at = f"{path.name} shape {n}"
        if not isinstance(shape, dict):
            raise ExchangeError(f"{at}: not an object")
        if shape.get("shape_type", "point") != "point":
            continue  # polygons and such are not landmarks
        label = shape.get("label")
        if not isinstance(label, str) or label not in schema.landmarks:
            raise ExchangeError(f"{at}: label {str(label)[:40]!r} is not a landmark of schema {schema.name!r}")
        pts = shape.get("points")
        if not (isinstance(pts, list) and len(pts) == 1 and isinstance(pts[0], list) and len(pts[0]) == 2):
            raise ExchangeError(f"{at}: a point shape needs 'points' [[x, y]]")
        x, y = (number(v, at, text=False) for v in pts[0])
        desc = shape.get("description")
        state = check_state(desc[len(_PREFIX):], at) if isinstance(desc, str) and desc.startswith(_PREFIX) else None
        if label in item.points:
            raise ExchangeError(f"{at}: landmark {label} appears twice")
        item.points[label] = (x, y, state)
    flags = doc.get("flags") or {}
    if not isinstance(flags, dict):
        raise ExchangeError(f"{path.name}: 'flags' must be an object")
    for flag, on in flags.items():
        name = flag[len("absent:"):] if isinstance(flag, str) and flag.startswith("absent:") else None
        if on is True and name in schema.landmarks and name not in item.points:
            item.points[name] = (math.nan, math.nan, "absent")
    return item


def read(path: Path, schema) -> list[ImportedImage]:
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise ExchangeError(f"{path.name}: no labelme .json files in the folder")
        return [read_one(f, schema) for f in files]
    return [read_one(path, schema)]
