"""Exchange formats: export → import round trips on a project of real images, the DICOM SR read
back, and the CLI names (hostile files: test_hostile_exchange.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.exchange import ExchangeError, export_project, import_file
from core.project import LandmarkState, Project

RG1 = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chest_RG1.dcm"


@pytest.fixture(scope="module")
def jsrt_pngs(shared_data):
    paths = sorted((shared_data / "chest_jsrt" / "images").glob("JPCLN00*.png"))[:2]
    if len(paths) < 2:
        pytest.skip("the JSRT chest PNGs in ../shared/data/chest_jsrt/images are needed")
    return paths


def _filled(path: Path, images: list[Path]) -> Project:
    """A chest6 project with every state present and positions that are not round numbers."""
    project = Project.create(path, "chest6", user="tester")
    rng = np.random.default_rng(7)
    ids = [project.add_image(p).id for p in images]
    for image_id in ids:
        for name in project.schema.landmarks:
            x, y = rng.uniform(10, 900, 2) + 1 / 3
            project.set_point(image_id, name, x, y)
    if len(ids) > 1:
        project.set_state(ids[0], "L_apex", LandmarkState.VERIFIED)
        project.set_state(ids[1], "R_apex", LandmarkState.ABSENT)
    return project


def _fresh(path: Path, images: list[Path]) -> Project:
    project = Project.create(path, "chest6", user="importer")
    for p in images:
        project.add_image(p)
    return project


@pytest.mark.parametrize("fmt,out", [("csv", "lm.csv"), ("coco", "coco.json"), ("labelme", "labelme")])
def test_round_trip_keeps_points_and_states(tmp_path, jsrt_pngs, fmt, out):
    images = [RG1, *jsrt_pngs]
    src = _filled(tmp_path / "a.anatomark", images)
    export_project(src, fmt, tmp_path / out)
    dst = _fresh(tmp_path / "b.anatomark", images)
    result = import_file(dst, tmp_path / out, fmt, state="file")
    assert result.images == 3 and not result.unmatched
    for a, b in zip(src.images, dst.images):
        np.testing.assert_allclose(b.positions(), a.positions(), atol=1e-3 if fmt == "csv" else 1e-6)  # CSV: 0.001 px
        for name in src.schema.landmarks:
            assert b.landmarks[name].state == a.landmarks[name].state, (fmt, name)
            assert b.landmarks[name].source == f"import:{fmt}:{Path(out).name}"
    dst.save()  # imported records are valid project content


def test_isbi_round_trip_and_default_state(tmp_path, jsrt_pngs):
    images = [RG1, *jsrt_pngs]
    src = _filled(tmp_path / "a.anatomark", images)
    written = export_project(src, "isbi", tmp_path / "isbi")
    assert len(written) == 2, "the image with an absent landmark is skipped (ISBI cannot say 'absent')"
    lines = written[0].read_text().splitlines()
    assert len(lines) == 6 and all(len(line.split(",")) == 2 for line in lines)
    dst = _fresh(tmp_path / "b.anatomark", images)
    result = import_file(dst, tmp_path / "isbi", "isbi")
    assert result.images == 2
    exported = {p.stem for p in written}
    assert exported == {src.images[0].id, src.images[2].id}, "anonymised: files named by content id"
    for a, b in zip(src.images, dst.images):
        if a.id in exported:
            np.testing.assert_allclose(b.positions(), a.positions(), atol=1e-6)
            assert {r.state for r in b.landmarks.values()} == {LandmarkState.CORRECTED}
            assert b.landmarks["R_apex"].source == "import:isbi:isbi"
        else:
            assert {r.state for r in b.landmarks.values()} == {LandmarkState.MISSING}


def test_coco_visibility_and_skeleton(tmp_path, jsrt_pngs):
    src = _filled(tmp_path / "a.anatomark", [RG1, *jsrt_pngs])
    image_id = src.images[2].id
    # A model prediction nobody reviewed: visibility 1.
    src.restore(image_id, "L_costophrenic", type(src.images[2].landmarks["L_costophrenic"])(
        5.0, 6.0, LandmarkState.PREDICTED, "model:m", "2025-01-01T00:00:00.000+00:00"))
    export_project(src, "coco", tmp_path / "c.json")
    doc = json.loads((tmp_path / "c.json").read_text())
    cat = doc["categories"][0]
    assert cat["keypoints"] == list(src.schema.landmarks)
    assert sorted(map(tuple, cat["skeleton"])) == sorted((i + 1, j + 1) for i, j in src.schema.edges)
    vis = {n: v for ann in doc["annotations"] for n, v in zip(cat["keypoints"], ann["keypoints"][2::3])
           if ann["image_id"] == 2}
    assert vis["R_apex"] == 0 and vis["L_apex"] == 2
    vis3 = dict(zip(cat["keypoints"], doc["annotations"][2]["keypoints"][2::3]))
    assert vis3["L_costophrenic"] == 1 and vis3["R_apex"] == 2
    # Without our extra key, visibility decides: 1 -> predicted, 2 -> corrected, 0 -> absent.
    for ann in doc["annotations"]:
        del ann["anatomark_states"]
    (tmp_path / "plain.json").write_text(json.dumps(doc))
    dst = _fresh(tmp_path / "b.anatomark", [RG1, *jsrt_pngs])
    import_file(dst, tmp_path / "plain.json", "coco", state="file")
    assert dst.images[2].landmarks["L_costophrenic"].state == LandmarkState.PREDICTED
    assert dst.images[1].landmarks["R_apex"].state == LandmarkState.ABSENT
    assert dst.images[0].landmarks["L_apex"].state == LandmarkState.CORRECTED


def test_import_default_state_is_corrected_and_keeps_model_original(tmp_path, jsrt_pngs):
    src = _filled(tmp_path / "a.anatomark", jsrt_pngs[:1])
    export_project(src, "csv", tmp_path / "a.csv")
    dst = _fresh(tmp_path / "b.anatomark", jsrt_pngs[:1])
    image_id = dst.images[0].id
    model = type(dst.images[0].landmarks["R_apex"])(1.0, 2.0, LandmarkState.PREDICTED, "model:m",
                                                    "2025-01-01T00:00:00.000+00:00", confidence=0.5)
    dst.restore(image_id, "R_apex", model)
    import_file(dst, tmp_path / "a.csv", "csv")
    record = dst.image(image_id).landmarks["R_apex"]
    assert record.state == LandmarkState.CORRECTED and record.original == (1.0, 2.0)
    assert any(row["action"] == "import" for row in dst.log(image_id))


def test_dicom_sr_reads_back(tmp_path):
    import pydicom

    from core.exchange.dicom_sr import COMPREHENSIVE_SR, read_sr

    project = _filled(tmp_path / "a.anatomark", [RG1])
    (path,) = export_project(project, "dicom-sr", tmp_path / "sr")
    back = read_sr(path)
    source = pydicom.dcmread(RG1, stop_before_pixels=True)
    assert back["sop_class"] == COMPREHENSIVE_SR
    assert back["referenced"] == [source.SOPInstanceUID]
    image = project.images[0]
    for k, name in enumerate(project.schema.landmarks):
        x, y, state = back["points"][name]
        assert math.hypot(x - image.positions()[k, 0], y - image.positions()[k, 1]) < 1e-3  # FL: float32
        assert state == "corrected"
    expected = project.schema.compute_measurements(image.positions(), image.spacing)
    for name, value in expected.items():
        got, unit, _sd = back["measurements"][name]
        assert got == pytest.approx(value, rel=1e-6)
        assert unit in ("{pixel}", "1")  # RG1 has no pixel spacing: distances in px
    ds = pydicom.dcmread(path)
    assert str(ds.PatientName) != str(source.PatientName) and ds.PatientID != source.PatientID
    assert ds.PatientID.startswith("ANON-") and "InstitutionName" not in ds
    with_ids = export_project(project, "dicom-sr", tmp_path / "sr_ids", include_identifiers=True)[0]
    assert pydicom.dcmread(with_ids).PatientID == source.PatientID


def test_dicom_sr_refuses_non_dicom_images(tmp_path, jsrt_pngs):
    project = _filled(tmp_path / "a.anatomark", [RG1, jsrt_pngs[0]])
    with pytest.raises(ExchangeError, match="JPCLN001.png did not come from a DICOM file"):
        export_project(project, "dicom-sr", tmp_path / "sr")
    assert not (tmp_path / "sr").exists(), "nothing is written before the refusal"


# Hostile import files: tests/core/test_hostile_exchange.py (a corpus for every format).


def test_cli_export_and_import(tmp_path, jsrt_pngs, capsys):
    from core.cli import main

    src = _filled(tmp_path / "a.anatomark", [RG1, *jsrt_pngs])
    src.save()
    src.close()
    assert main(["export", "--project", str(tmp_path / "a.anatomark"), "--format", "csv",
                 "--out", str(tmp_path / "out.csv")]) == 0
    assert main(["project", "new", str(tmp_path / "b.anatomark"), "--schema", "chest6"]) == 0
    assert main(["project", "add", str(tmp_path / "b.anatomark"), str(RG1), *map(str, jsrt_pngs)]) == 0
    assert main(["project", "import", str(tmp_path / "b.anatomark"), "--file", str(tmp_path / "out.csv"),
                 "--format", "csv", "--keep-states"]) == 0
    with Project.open(tmp_path / "b.anatomark", read_only=True) as b, Project.open(tmp_path / "a.anatomark",
                                                                                     read_only=True) as a:
        for x, y in zip(a.images, b.images):
            np.testing.assert_allclose(y.positions(), x.positions(), atol=1e-3)  # CSV keeps 0.001 px
    capsys.readouterr()
    assert main(["export", "--project", str(tmp_path / "a.anatomark"), "--format", "dicom-sr",
                 "--out", str(tmp_path / "sr")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DICOM" in err
    (tmp_path / "bad.csv").write_text("nonsense")
    assert main(["project", "import", str(tmp_path / "b.anatomark"), "--file", str(tmp_path / "bad.csv"),
                 "--format", "csv"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_folder_export_that_fails_midway_leaves_the_old_folder_as_it_was(tmp_path, jsrt_pngs, monkeypatch):
    """Issue 18: a labelme export failing midway left old and new files mixed."""
    from core.exchange import labelme

    images = [RG1, *jsrt_pngs]
    project = _filled(tmp_path / "a.anatomark", images)
    out = tmp_path / "labelme"
    first = export_project(project, "labelme", out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(before) == 3
    project.set_point(project.images[0].id, "R_apex", 5.5, 6.5)  # the next export differs
    real, calls = labelme.write_text, []

    def failing(path, text):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(path, text)

    monkeypatch.setattr(labelme, "write_text", failing)
    with pytest.raises(OSError):
        export_project(project, "labelme", out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing new, nothing half
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch left
    monkeypatch.setattr(labelme, "write_text", real)
    again = export_project(project, "labelme", out)
    assert sorted(p.name for p in again) == sorted(p.name for p in first)
    assert {p.name: p.read_bytes() for p in out.iterdir()} != before


def test_csv_export_has_sensible_precision_and_provenance_columns(tmp_path, jsrt_pngs):
    """Issue 17 item 8: coordinates to 0.001 px, and per landmark its state, confidence and source."""
    import csv as csv_module

    project = _filled(tmp_path / "a.anatomark", [RG1, *jsrt_pngs])
    export_project(project, "csv", tmp_path / "lm.csv")
    rows = list(csv_module.DictReader((tmp_path / "lm.csv").open()))
    first = rows[0]
    assert all(len(first[f"{n}_x"].split(".")[-1]) <= 3 for n in project.schema.landmarks)
    assert first["L_apex_source"].startswith("user:") and first["R_apex_state"] == "corrected"
    assert first["R_apex_confidence"] == ""  # placed by a person, never predicted
