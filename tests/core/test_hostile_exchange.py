"""Hostile landmark exchange files (issue 6 item 1, issue 7 item 1): a corpus generated here for
every import format (csv, coco, labelme, isbi) — empty, binary, truncated, missing columns/keys,
NaN/inf/huge/negative coordinates, another schema, wrong types, duplicates, images the project
does not have, a 50 MB file. Each must be refused with an ExchangeError whose message is one
line, leave the project and the file unchanged, and make the CLI exit 2 without a traceback.
The one partial import (some images of the file not in the project) is tested on its own: the
others are imported and the skipped ones are named in the summary.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.exchange import ExchangeError, export_project, import_file
from core.project import Project
from core.schema import load_schema

NAMES = list(load_schema("chest6").landmarks)
CEPH = list(load_schema("ceph19").landmarks)
H, W = 48, 64  # the generated images' size: points must lie inside
SUFFIX = {"csv": ".csv", "coco": ".json", "labelme": ".json", "isbi": ".txt"}
BIG = 50 * 1024 * 1024


# -- the corpus ---------------------------------------------------------------------------------


def _csv(rows: list[list[str]], header: list[str] | None = None) -> str:
    header = header or ["id", *[f"{n}_{c}" for n in NAMES for c in ("x", "y")]]
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


def _csv_row(key: str = "img_a.png", value: str = "10.5") -> list[str]:
    return [key, *[value] * (2 * len(NAMES))]


CSV_CASES = {
    "header-only": _csv([]),
    "no-id-column": _csv([_csv_row()], ["name", *[f"{n}_{c}" for n in NAMES for c in ("x", "y")]]),
    "missing-all-landmark-columns": "id,foo\nimg_a.png,1\n",
    "missing-y-column": "id,R_apex_x,L_apex_x,L_apex_y\nimg_a.png,1,2,3\n",
    "other-schema-columns": _csv([["img_a.png", "1", "2"]], ["id", "Sella_x", "Sella_y"]),
    "nan": _csv([_csv_row(value="nan")]),
    "inf": _csv([_csv_row(value="inf")]),
    "1e300": _csv([_csv_row(value="1e300")]),
    "overflow-1e999": _csv([_csv_row(value="1e999")]),
    "negative": _csv([_csv_row(value="-5")]),
    "beyond-image": _csv([_csv_row(value="500")]),
    "text-for-number": _csv([_csv_row(value="left")]),
    "one-coordinate": "id,R_apex_x,R_apex_y\nimg_a.png,1,\n",
    "duplicate-rows": _csv([_csv_row(), _csv_row()]),
    "duplicate-by-id-and-name": _csv([_csv_row(), _csv_row("{id_a}")]),
    "duplicate-column": "id,R_apex_x,R_apex_y,R_apex_x\nimg_a.png,1,2,3\n",
    "unknown-state": "id,R_apex_x,R_apex_y,R_apex_state\nimg_a.png,1,2,hacked\n",
    "state-without-position": "id,R_apex_x,R_apex_y,R_apex_state\nimg_a.png,,,verified\n",
    "short-row": "id,R_apex_x,R_apex_y\nimg_a.png,1\n",
    "long-row": "id,R_apex_x,R_apex_y\nimg_a.png,1,2,3\n",
    "empty-id": _csv([_csv_row(key="")]),
    "unbalanced-quotes": 'id,R_apex_x,R_apex_y\n"img_a.png,1,2\n',
    "field-over-csv-limit": "id,R_apex_x,R_apex_y\n" + "a" * 200_000 + ",1,2\n",
    "images-not-in-project": _csv([_csv_row("nosuch.png"), _csv_row("other.dcm")]),
}


def _coco(keypoints=None, images=None, categories=None, annotations=None, **extra) -> str:
    images = [{"id": 1, "file_name": "img_a.png"}] if images is None else images
    categories = [{"id": 1, "name": "chest6", "keypoints": NAMES}] if categories is None else categories
    kps = [v for _ in NAMES for v in (10.5, 12.5, 2)] if keypoints is None else keypoints
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": kps}] if annotations is None \
        else annotations
    return json.dumps({"images": images, "categories": categories, "annotations": annotations, **extra})


def _kps(x, y=12.5, v=2) -> list:
    return [x, y, v] + [v_ for _ in NAMES[1:] for v_ in (10.5, 12.5, 2)]


COCO_CASES = {
    "list-not-object": "[]",
    "open-brace": "{",
    "deep-nesting": "[" * 100_000,
    "truncated": _coco()[:-7],
    "categories-not-list": _coco(categories=5),
    "no-category-with-keypoints": _coco(categories=[{"id": 1, "name": "x"}]),
    "no-images-key": json.dumps({"categories": [{"id": 1, "keypoints": NAMES}], "annotations": []}),
    "image-without-file-name": _coco(images=[{"id": 1}]),
    "image-id-a-list": _coco(images=[{"id": [1], "file_name": "img_a.png"}]),
    "annotation-not-object": _coco(annotations=[5]),
    "annotation-image-missing": _coco(annotations=[{"id": 1, "category_id": 1, "keypoints": _kps(1)}]),
    "annotation-unknown-category": _coco(annotations=[{"id": 1, "image_id": 1, "category_id": 9,
                                                       "keypoints": _kps(1)}]),
    "keypoints-too-short": _coco(keypoints=[1, 2]),
    "keypoints-null": _coco(keypoints=None, annotations=[{"id": 1, "image_id": 1, "category_id": 1,
                                                          "keypoints": None}]),
    "visibility-7": _coco(keypoints=_kps(10.0, v=7)),
    "visibility-string": _coco(keypoints=_kps(10.0, v="2")),
    "visibility-true": _coco(keypoints=_kps(10.0, v=True)),
    "coordinate-string": _coco(keypoints=_kps("10.5")),
    "coordinate-list": _coco(keypoints=_kps([10.5])),
    "coordinate-bool": _coco(keypoints=_kps(True)),
    "nan": _coco(keypoints=_kps(float("nan"))),
    "infinity": _coco(keypoints=_kps(float("inf"))),
    "1e300": _coco(keypoints=_kps(1e300)),
    "int-10-to-400": _coco(keypoints=_kps(10.5)).replace("10.5", "1" + "0" * 400, 1),
    "negative": _coco(keypoints=_kps(-20.0)),
    "beyond-image": _coco(keypoints=_kps(10.0, y=1000.0)),
    "other-schema-keypoints": _coco(categories=[{"id": 1, "keypoints": CEPH[:6]}]),
    "keypoint-name-not-text": _coco(categories=[{"id": 1, "keypoints": [1, 2, 3, 4, 5, 6]}]),
    "duplicate-keypoint-name": _coco(categories=[{"id": 1, "keypoints": [NAMES[0]] * 6}]),
    "duplicate-annotations": _coco(annotations=[{"id": i, "image_id": 1, "category_id": 1, "keypoints": _kps(1)}
                                                for i in (1, 2)]),
    "duplicate-image-ids": _coco(images=[{"id": 1, "file_name": "img_a.png"}, {"id": 1, "file_name": "img_b.png"}]),
    "states-wrong-length": _coco(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "keypoints": _kps(1),
                                               "anatomark_states": ["corrected"]}]),
    "states-unknown": _coco(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "keypoints": _kps(1),
                                          "anatomark_states": ["hacked"] * 6}]),
    "images-not-in-project": _coco(images=[{"id": 1, "file_name": "nosuch.png"}]),
}


def _labelme(shapes=None, image_path="img_a.png", **extra) -> str:
    shapes = [{"label": n, "points": [[10.5, 12.5]], "shape_type": "point"} for n in NAMES] if shapes is None \
        else shapes
    return json.dumps({"version": "5.4.1", "shapes": shapes, "imagePath": image_path, **extra})


def _point(x, y=12.5, label="R_apex", **extra) -> list[dict]:
    return [{"label": label, "points": [[x, y]], "shape_type": "point", **extra}]


LABELME_CASES = {
    "empty-object": "{}",
    "list-not-object": "[]",
    "truncated": _labelme()[:-10],
    "deep-nesting": '{"shapes": ' + "[" * 100_000,
    "shapes-not-list": '{"shapes": 5}',
    "shape-not-object": '{"shapes": [5], "imagePath": "img_a.png"}',
    "label-unknown": _labelme(_point(1.0, label="nope")),
    "label-other-schema": _labelme(_point(1.0, label=CEPH[0])),
    "label-not-text": _labelme(_point(1.0, label=5)),
    "points-not-list": _labelme([{"label": "R_apex", "points": 3}]),
    "points-three-values": _labelme([{"label": "R_apex", "points": [[1, 2, 3]]}]),
    "points-two-points": _labelme([{"label": "R_apex", "points": [[1, 2], [3, 4]]}]),
    "coordinate-string": _labelme(_point("10.5")),
    "coordinate-null": _labelme(_point(None)),
    "nan": _labelme(_point(float("nan"))),
    "infinity": _labelme(_point(float("inf"))),
    "1e300": _labelme(_point(1e300)),
    "negative": _labelme(_point(-3.0)),
    "beyond-image": _labelme(_point(10.0, y=480.0)),
    "duplicate-label": _labelme(_point(1.0) + _point(2.0)),
    "unknown-state": _labelme(_point(1.0, description="anatomark:hacked")),
    "image-path-a-number": _labelme(_point(1.0), image_path=7),
    "flags-a-list": _labelme(_point(1.0), flags=["absent:R_apex"]),
    "image-not-in-project": _labelme(_point(1.0), image_path="nosuch.png"),
}


def _isbi(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


GOOD_ISBI = [f"{10 + k},{12 + k}" for k in range(len(NAMES))]

ISBI_CASES = {
    "too-few-lines": _isbi(GOOD_ISBI[:2]),
    "other-schema-19-pairs": _isbi([f"{k},{k}" for k in range(19)]),
    "text-for-number": _isbi(["a,b"] * len(NAMES)),
    "semicolons": _isbi(["1;2"] * len(NAMES)),
    "three-values": _isbi(["1,2,3"] * len(NAMES)),
    "blank-line-inside": _isbi(GOOD_ISBI[:2] + [""] + GOOD_ISBI[2:]),
    "nan": _isbi(["nan,1"] + GOOD_ISBI[1:]),
    "inf": _isbi(["inf,1"] + GOOD_ISBI[1:]),
    "1e300": _isbi(["1e300,1"] + GOOD_ISBI[1:]),
    "negative": _isbi(["-5,3"] + GOOD_ISBI[1:]),
    "beyond-image": _isbi(["10,4800"] + GOOD_ISBI[1:]),
    "not-in-project": _isbi(GOOD_ISBI),  # written as nosuch.txt: no image has that stem
}

#: Every format also gets these (bytes or special markers handled in _write).
GENERIC = {
    "empty": b"",
    "binary-garbage": bytes(np.random.default_rng(6).integers(0, 256, 4096, dtype=np.uint8)),
    "nul-bytes": b"\x00" * 512,
    "latin-1-text": "id,R_apex_x\nDuré.png,1\n".encode("latin-1"),
    "utf-16": "id,R_apex_x,R_apex_y\nimg_a.png,1,2\n".encode("utf-16"),
    "png-renamed": b"\x89PNG\r\n\x1a\n" + b"\0" * 200,
    "huge-50MB": "huge",
    "missing-file": "missing",
    "empty-folder": "folder",
    # wide and deep (issue 18): each refused in time linear in its size, never a RecursionError
    "deep-brackets-100k": "[" * 100_000,
    "deep-objects-20k": '{"a":' * 20_000 + "1" + "}" * 20_000,
    "wide-object-200k-keys": "{" + ",".join(f'"k{i}":{i}' for i in range(200_000)) + "}",
    "wide-line-200k-commas": "id" + "," * 200_000 + "\n",
    "many-lines-200k": "x\n" * 200_000,
}

#: Besides GENERIC, the cases also run through ``anatomark project import`` (one of each kind of check).
CLI_TOO = ("nan", "negative", "duplicate", "not-in-project", "other-schema", "truncated", "string")

SPECIFIC = {"csv": CSV_CASES, "coco": COCO_CASES, "labelme": LABELME_CASES, "isbi": ISBI_CASES}
CASES = [(fmt, name, content) for fmt, cases in SPECIFIC.items()
         for name, content in [*cases.items(), *GENERIC.items()]]


def _write(folder: Path, fmt: str, name: str, content, id_a: str) -> Path:
    """The hostile file (or folder) for one case; ISBI files are named after an image's stem."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = ("nosuch" if name == "not-in-project" else "img_a") if fmt == "isbi" else name
    path = folder / f"{stem}{SUFFIX[fmt]}"
    if content == "missing":
        return path
    if content == "folder":
        (folder / "sub").mkdir()
        return folder / "sub"
    if content == "huge":
        with path.open("wb") as fh:  # a sparse file: 50 MB on paper, nothing on disk
            fh.write(_csv([_csv_row()]).encode() if fmt == "csv" else b'{"shapes": [')
            fh.truncate(BIG)
        return path
    path.write_bytes(content if isinstance(content, bytes) else content.replace("{id_a}", id_a).encode())
    return path


# -- the project they are imported into -----------------------------------------------------------


def _images(folder: Path) -> list[Path]:
    paths = []
    for k, name in enumerate(("img_a.png", "img_b.png")):
        pixels = (np.arange(H * W).reshape(H, W) * (k + 1) % 251).astype(np.uint8)
        Image.fromarray(pixels).save(folder / name)
        paths.append(folder / name)
    return paths


def _snapshot(project: Project) -> list:
    return [(im.id, im.verified, [(r.x, r.y, r.state, r.source) for r in im.landmarks.values()])
            for im in project.images]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A saved chest6 project with two small images, one landmark placed (kept open for the module)."""
    folder = tmp_path_factory.mktemp("hostile_exchange")
    project = Project.create(folder / "p.anatomark", "chest6", user="tester")
    ids = [project.add_image(p).id for p in _images(folder)]
    project.set_point(ids[0], NAMES[0], 5.0, 6.0)
    project.save()
    yield project
    project.close()


@pytest.fixture(scope="module")
def cli_project(tmp_path_factory) -> Path:
    """A second saved project (the module's open one holds its lock) for the command line."""
    folder = tmp_path_factory.mktemp("hostile_exchange_cli")
    with Project.create(folder / "c.anatomark", "chest6", user="tester") as project:
        for p in _images(folder):
            project.add_image(p)
        project.save()
    return folder / "c.anatomark"


def _sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and path.stat().st_size < BIG else None


@pytest.mark.parametrize(("fmt", "name", "content"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_hostile_exchange_file(tmp_path, project, cli_project, capsys, fmt, name, content):
    from core import cli

    path = _write(tmp_path / "in", fmt, name, content, project.images[0].id)
    before, file_before = _snapshot(project), _sha(path)
    with pytest.raises(ExchangeError) as info:
        import_file(project, path, fmt)
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message and len(message) < 400, message
    assert _snapshot(project) == before and not project.dirty, "a refused import changed the project"
    assert _sha(path) == file_before, "the imported file was changed"

    if name not in GENERIC and not any(k in name for k in CLI_TOO):
        return  # the CLI maps every ExchangeError alike: a sample of each kind keeps this file fast
    project_before = _sha(cli_project)
    code = cli.main(["project", "import", str(cli_project), "--file", str(path), "--format", fmt])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert _sha(cli_project) == project_before, "the CLI saved a refused import"


def test_corpus_size():
    """The corpus the issue asks for: every category in every format (counted in the report)."""
    assert len(CASES) >= 100
    for fmt in SPECIFIC:
        names = {n for f, n, _ in CASES if f == fmt}
        assert {"empty", "binary-garbage", "huge-50MB", "nan", "negative"} <= names, fmt


def test_images_not_in_project_are_skipped_and_named(tmp_path, jsrt_free_project):
    """The one partial import: known images are imported, the others are named in the summary."""
    project, other = jsrt_free_project
    path = tmp_path / "part.csv"
    path.write_text(_csv([_csv_row("img_b.png", "20"), _csv_row("nosuch.png")]))
    result = import_file(project, path, "csv")
    assert result.images == 1 and result.unmatched == ["nosuch.png"]
    assert "skipped 1 not in the project: nosuch.png" in result.summary()
    assert project.image(other).landmarks[NAMES[0]].x == 20.0


@pytest.fixture
def jsrt_free_project(tmp_path):
    project = Project.create(tmp_path / "q.anatomark", "chest6", user="tester")
    ids = [project.add_image(p).id for p in _images(tmp_path)]
    yield project, ids[1]
    project.close()


def test_export_then_import_of_every_format_is_accepted(tmp_path, jsrt_free_project):
    """The corpus's valid counterparts import: the refusals above are about the damage, not the format."""
    project, _ = jsrt_free_project
    for image in project.images:
        for k, name in enumerate(NAMES):
            project.set_point(image.id, name, 3.0 + k, 4.5 + k)
    for fmt, out in (("csv", "x.csv"), ("coco", "x.json"), ("labelme", "lm"), ("isbi", "isbi")):
        export_project(project, fmt, tmp_path / out)
        assert import_file(project, tmp_path / out, fmt).images == 2, fmt


@pytest.mark.parametrize("duplicate", [False, True])
def test_a_csv_200k_columns_wide_is_refused_at_once(tmp_path, jsrt_free_project, duplicate):
    """Issue 18: the duplicate-column check counted each column over the whole header (quadratic:
    200k columns never finished). Run in a thread with a generous hang guard, not a speed target."""
    import threading

    project, _ = jsrt_free_project
    header = ["id"] + [f"c{i}" for i in range(200_000)] + (["c7"] if duplicate else [])
    path = tmp_path / "wide.csv"
    path.write_text(",".join(header) + "\n" + ",".join(["x"] * len(header)) + "\n")
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: outcome.append(_refusal(project, path)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the import of a 200k-column CSV did not end"
    message = str(outcome[0])
    assert ("appears twice" in message) if duplicate else ("names no landmark" in message)


def _refusal(project, path: Path) -> BaseException:
    try:
        import_file(project, path, "csv")
    except ExchangeError as exc:
        return exc
    raise AssertionError("a 200k-column CSV was accepted")
