"""COCO keypoints JSON: one file for the whole project.

``images`` (id, file_name, width, height), one ``annotations`` entry per image
(``keypoints`` as x, y, v triplets in schema order, ``num_keypoints``,
``bbox`` around the visible points) and one category named after the schema
with its ``keypoints`` and ``skeleton`` (the schema's edges, 1-based as COCO
wants). Visibility: absent/missing → 0 (x = y = 0), predicted → 1,
corrected/verified → 2. Each annotation also carries ``anatomark_states``
(exact states; other COCO tools ignore unknown keys) so a round trip keeps
"verified" apart from "corrected". Coordinates are our image pixels (ADR 0001)
unchanged.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from core.exchange.common import ExchangeError, ExportRow, ImportedImage, check_state, number, read_text, write_text

VISIBILITY = {"absent": 0, "missing": 0, "predicted": 1, "corrected": 2, "verified": 2}
#: State of an imported point from its visibility, when the file has no ``anatomark_states``.
STATE_OF_VISIBILITY = {0: "absent", 1: "predicted", 2: "corrected"}


def export(project, out: Path, rows: list[ExportRow]) -> list[Path]:
    schema = project.schema
    images, annotations = [], []
    for i, (image, file_name, pts, states) in enumerate(rows, start=1):
        h, w = image.size
        images.append({"id": i, "file_name": file_name, "width": int(w), "height": int(h),
                       "anatomark_id": image.id})
        kps, xs, ys = [], [], []
        for (x, y), s in zip(pts, states):
            v = VISIBILITY[s]
            kps += [float(x), float(y), v] if v else [0.0, 0.0, 0]
            if v:
                xs.append(float(x))
                ys.append(float(y))
        bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)] if xs else [0.0, 0.0, 0.0, 0.0]
        annotations.append({"id": i, "image_id": i, "category_id": 1, "keypoints": kps,
                            "num_keypoints": len(xs), "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0,
                            "anatomark_states": states})
    category = {"id": 1, "name": schema.name, "supercategory": "anatomy", "keypoints": list(schema.landmarks),
                "skeleton": [[i + 1, j + 1] for i, j in schema.edges]}
    doc = {"info": {"description": f"Anatomark landmarks, schema {schema.name}"},
           "images": images, "annotations": annotations, "categories": [category]}
    return [write_text(out, json.dumps(doc, indent=1))]


def _list(d: dict, key: str, where: str) -> list:
    v = d.get(key)
    if not isinstance(v, list):
        raise ExchangeError(f"{where}: '{key}' must be a list")
    return v


def read(path: Path, schema) -> list[ImportedImage]:
    try:
        doc = json.loads(read_text(path, "COCO JSON"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ExchangeError(f"{path.name}: not valid JSON ({exc})") from None
    where = path.name
    if not isinstance(doc, dict):
        raise ExchangeError(f"{where}: not a COCO file (expected a JSON object)")
    cats = [c for c in _list(doc, "categories", where) if isinstance(c, dict) and isinstance(c.get("keypoints"), list)]
    if not cats:
        raise ExchangeError(f"{where}: no category with keypoints")
    files = {}
    for im in _list(doc, "images", where):
        if not isinstance(im, dict) or not isinstance(im.get("id"), (int, str)) \
                or not isinstance(im.get("file_name"), str):
            raise ExchangeError(f"{where}: every image needs an 'id' and a 'file_name'")
        if im["id"] in files:
            raise ExchangeError(f"{where}: image id {str(im['id'])[:40]!r} appears twice in 'images'")
        files[im["id"]] = im["file_name"]
    cat_kps = {c.get("id"): c["keypoints"] for c in cats if isinstance(c.get("id"), (int, str))}
    out = []
    for n, ann in enumerate(_list(doc, "annotations", where), start=1):
        at = f"{where} annotation {n}"
        if not isinstance(ann, dict):
            raise ExchangeError(f"{at}: not an object")
        category = ann.get("category_id")
        names = cat_kps.get(category) if isinstance(category, (int, str)) else None
        if names is None:
            raise ExchangeError(f"{at}: category {str(category)[:40]!r} has no keypoints")
        if not isinstance(ann.get("image_id"), (int, str)) or ann.get("image_id") not in files:
            raise ExchangeError(f"{at}: image_id {str(ann.get('image_id'))[:40]!r} is not in 'images'")
        kps = ann.get("keypoints")
        if not isinstance(kps, list) or len(kps) != 3 * len(names):
            raise ExchangeError(f"{at}: 'keypoints' must hold {3 * len(names)} numbers (x, y, v per keypoint)")
        states = ann.get("anatomark_states")
        if states is not None and (not isinstance(states, list) or len(states) != len(names)):
            raise ExchangeError(f"{at}: 'anatomark_states' must list one state per keypoint")
        item = ImportedImage(files[ann["image_id"]])
        for k, name in enumerate(names):
            if not isinstance(name, str) or name not in schema.landmarks:
                raise ExchangeError(f"{at}: keypoint {str(name)[:40]!r} is not in schema {schema.name!r}")
            if name in item.points:
                raise ExchangeError(f"{at}: keypoint {name} appears twice in its category")
            v = kps[3 * k + 2]
            if not isinstance(v, int) or isinstance(v, bool) or v not in (0, 1, 2):
                raise ExchangeError(f"{at}: visibility of {name} must be 0, 1 or 2, got {str(v)[:20]!r}")
            x, y = number(kps[3 * k], at, text=False), number(kps[3 * k + 1], at, text=False)
            state = check_state(states[k], at) if states is not None else STATE_OF_VISIBILITY[int(v)]
            if v == 0:
                x = y = math.nan
                if state not in ("absent", "missing"):
                    state = "absent"
            elif state in ("absent", "missing"):
                state = STATE_OF_VISIBILITY[int(v)]
            item.points[name] = (x, y, state)
        out.append(item)
    return out
